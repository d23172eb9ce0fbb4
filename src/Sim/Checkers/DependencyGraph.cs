namespace DetKafka.Sim.Checkers;

/// <summary>
/// Dependencies between operations (nodes are history indexes): ww when one operation's value directly precedes
/// another's in a partition's version order, wr when an operation read a value another wrote. Cycles are found as
/// strongly connected components (iterative Tarjan, linear in nodes and edges), then one short cycle per component
/// is extracted by breadth-first search for the report.
/// </summary>
internal sealed class DependencyGraph
{
    public const byte WriteWrite = 1;
    public const byte WriteRead = 2;
    public const byte Any = WriteWrite | WriteRead;

    private readonly int _nodes;
    private readonly List<int> _from = new();
    private readonly List<int> _to = new();
    private readonly List<byte> _kind = new();
    private int[] _start = [];
    private int[] _targets = [];
    private byte[] _kinds = [];

    public DependencyGraph(int nodes) => _nodes = nodes;

    public int EdgeCount => _from.Count;
    public bool HasWriteRead { get; private set; }

    public void Add(int from, int to, byte kind)
    {
        if (from == to) return;
        int n = _from.Count;
        if (n > 0 && _from[n - 1] == from && _to[n - 1] == to && _kind[n - 1] == kind) return;
        _from.Add(from);
        _to.Add(to);
        _kind.Add(kind);
        if (kind == WriteRead) HasWriteRead = true;
    }

    /// <summary>Builds the adjacency arrays (compressed rows); call once after the last <see cref="Add"/>.</summary>
    public void Freeze()
    {
        _start = new int[_nodes + 1];
        foreach (int f in _from) _start[f + 1]++;
        for (int i = 0; i < _nodes; i++) _start[i + 1] += _start[i];
        var fill = (int[])_start.Clone();
        _targets = new int[_from.Count];
        _kinds = new byte[_from.Count];
        for (int e = 0; e < _from.Count; e++)
        {
            int at = fill[_from[e]]++;
            _targets[at] = _to[e];
            _kinds[at] = _kind[e];
        }
    }

    /// <summary>Strongly connected components of more than one node using only edges in <paramref name="mask"/>.
    /// <paramref name="componentOf"/> gets each node's component number (-1 outside every such component).</summary>
    public List<int[]> Components(byte mask, out int[] componentOf)
    {
        componentOf = new int[_nodes];
        Array.Fill(componentOf, -1);
        var result = new List<int[]>();
        if (_from.Count == 0) return result;

        var index = new int[_nodes];
        var low = new int[_nodes];
        var onStack = new bool[_nodes];
        Array.Fill(index, -1);
        var stack = new Stack<int>();
        var calls = new Stack<(int Node, int Edge)>();
        int counter = 0;

        foreach (int root in _from)
        {
            if (index[root] >= 0) continue;
            index[root] = low[root] = counter++;
            stack.Push(root);
            onStack[root] = true;
            calls.Push((root, _start[root]));
            while (calls.Count > 0)
            {
                var (v, e) = calls.Pop();
                int end = _start[v + 1];
                while (e < end && (_kinds[e] & mask) == 0) e++;
                if (e < end)
                {
                    calls.Push((v, e + 1));
                    int w = _targets[e];
                    if (index[w] < 0)
                    {
                        index[w] = low[w] = counter++;
                        stack.Push(w);
                        onStack[w] = true;
                        calls.Push((w, _start[w]));
                    }
                    else if (onStack[w])
                    {
                        low[v] = Math.Min(low[v], index[w]);
                    }
                    continue;
                }
                if (calls.Count > 0)
                {
                    int parent = calls.Peek().Node;
                    low[parent] = Math.Min(low[parent], low[v]);
                }
                if (low[v] != index[v]) continue;
                var members = new List<int>();
                int x;
                do
                {
                    x = stack.Pop();
                    onStack[x] = false;
                    members.Add(x);
                } while (x != v);
                if (members.Count < 2) continue;
                members.Sort();
                foreach (int m in members) componentOf[m] = result.Count;
                result.Add(members.ToArray());
            }
        }
        return result;
    }

    /// <summary>An edge of kind <paramref name="kind"/> from a member of component <paramref name="component"/> to
    /// another member, or null.</summary>
    public (int From, int To)? InternalEdge(int[] members, int[] componentOf, int component, byte kind)
    {
        foreach (int v in members)
        {
            for (int e = _start[v]; e < _start[v + 1]; e++)
            {
                if (_kinds[e] == kind && componentOf[_targets[e]] == component) return (v, _targets[e]);
            }
        }
        return null;
    }

    /// <summary>A shortest path from <paramref name="from"/> to <paramref name="to"/> inside one component using
    /// edges in <paramref name="mask"/>: the nodes in order, and the kind of each edge taken (one fewer).</summary>
    public (List<int> Nodes, List<byte> Kinds) Path(int from, int to, byte mask, int[] componentOf, int component)
    {
        var parent = new Dictionary<int, (int Node, byte Kind)>();
        var queue = new Queue<int>();
        queue.Enqueue(from);
        parent[from] = (-1, 0);
        bool found = from == to;
        while (queue.Count > 0 && !found)
        {
            int v = queue.Dequeue();
            for (int e = _start[v]; e < _start[v + 1]; e++)
            {
                int w = _targets[e];
                if ((_kinds[e] & mask) == 0 || componentOf[w] != component || parent.ContainsKey(w)) continue;
                parent[w] = (v, _kinds[e]);
                if (w == to) { found = true; break; }
                queue.Enqueue(w);
            }
        }
        var nodes = new List<int>();
        var kinds = new List<byte>();
        if (!found) return (nodes, kinds);
        for (int at = to; at != -1; at = parent[at].Node)
        {
            nodes.Add(at);
            if (at != from) kinds.Add(parent[at].Kind);
            if (at == from) break;
        }
        nodes.Reverse();
        kinds.Reverse();
        return (nodes, kinds);
    }

    /// <summary>A cycle through <paramref name="start"/> inside its component: the nodes (first repeated at the end)
    /// and the edge kinds.</summary>
    public (List<int> Nodes, List<byte> Kinds) CycleThrough(int start, byte mask, int[] componentOf, int component)
    {
        for (int e = _start[start]; e < _start[start + 1]; e++)
        {
            int w = _targets[e];
            if ((_kinds[e] & mask) == 0 || componentOf[w] != component) continue;
            var (nodes, kinds) = Path(w, start, mask, componentOf, component);
            if (nodes.Count == 0) continue;
            nodes.Insert(0, start);
            kinds.Insert(0, _kinds[e]);
            return (nodes, kinds);
        }
        return ([], []);
    }
}
