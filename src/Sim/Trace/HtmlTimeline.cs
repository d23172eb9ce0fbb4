using System.Globalization;
using System.IO;
using System.Text;
using DetKafka.Sim.Checkers;
using DetKafka.Sim.History;

namespace DetKafka.Sim.Trace;

/// <summary>
/// Turns a run's trace into one self-contained HTML page (inline CSS and JavaScript, no network): machines as
/// lanes (nodes, then clients, then the nemesis and the network), messages as arrows from send to delivery,
/// faults as bands over the machines they hit, history operations and log lines as marks, and the first
/// violation as a red line. The page scrolls and zooms (wheel, drag) and shows a record's details on hover.
/// <para>
/// It is a trace sink: attach it to a replay. Its memory and the page's size are bounded by
/// <c>maxItems</c>: when the trace holds more, it keeps faults, restarts, warnings and history completions
/// first, then whatever lies nearest the focus times (the violation and the operations it implicates, or the
/// start of a passing run), and the page says how much it left out. Run the seed once without it to learn
/// the focus (<see cref="FocusOf"/>), then replay with it: a replay is the same run.
/// </para>
/// The output is a function of the records and the result alone (no clock, no hash-ordered iteration), so a
/// replay renders byte-identical pages in any process.
/// </summary>
public sealed class HtmlTimeline : ITraceSink
{
    public const int DefaultMaxItems = 20_000;

    /// <summary>Details longer than this are cut in the page (the JSON lines trace keeps them whole).</summary>
    public const int DetailsMax = 400;

    private const int ActorsMax = 1_000;
    private const int ProcessesMax = 100_000;
    private const int DeliveriesPerMessageMax = 8;

    private readonly long[] _focusUs;
    private readonly int _maxItems;
    private readonly PriorityQueue<Item, Item> _kept = new(WorstFirst.Instance);
    private readonly Dictionary<long, Item> _messagesKept = new();
    private readonly SortedSet<string> _actors = new(StringComparer.Ordinal);
    private readonly Dictionary<int, string> _processActors = new();
    private long _sequence;
    private long _records;
    private long _noOps;
    private long _evicted;
    private long _deliveriesOmitted;
    private long _endUs;
    private long _healUs = -1;

    /// <param name="focusUs">Times the selection centres on when the trace is too big (see <see cref="FocusOf"/>).</param>
    /// <param name="maxItems">Drawn items at most (messages count once with their deliveries).</param>
    public HtmlTimeline(IReadOnlyList<long>? focusUs = null, int maxItems = DefaultMaxItems)
    {
        if (maxItems < 1) throw new ArgumentOutOfRangeException(nameof(maxItems));
        _focusUs = (focusUs is { Count: > 0 } ? focusUs : [0L]).Order().ToArray();
        _maxItems = maxItems;
    }

    /// <summary>Records the sink has seen.</summary>
    public long RecordsSeen => _records;

    /// <summary>Items kept for the page (at most the bound given).</summary>
    public int ItemsKept => _kept.Count;

    /// <summary>Items dropped to stay within the bound.</summary>
    public long ItemsLeftOut => _evicted;

    /// <summary>Where a finished run's interesting part is: the first violation and the history operations of
    /// the forbidden anomalies (a lost write's send, the polls that skipped it), or the start of a passing run.</summary>
    public static IReadOnlyList<long> FocusOf(SimulationResult result)
    {
        var times = new List<long>();
        if (result.FirstViolation is { } v) times.Add(v.TimeUs);
        foreach (var mark in Implicated(result)) times.Add(mark.TimeUs);
        if (times.Count == 0) times.Add(0);
        return times.Distinct().Order().ToList();
    }

    public void Write(in TraceRecord record)
    {
        _records++;
        _endUs = Math.Max(_endUs, record.TimeUs);
        if (_actors.Count < ActorsMax) _actors.Add(record.Actor);
        if (record.Actor == "nemesis" && record.Kind == "heal") _healUs = record.TimeUs;
        LearnProcess(record);
        if (record.Details.Length == 0)
        {
            _noOps++; // a stale timer or a dropped duplicate: nothing happened
            return;
        }
        if (record.Message != 0 && !IsMessageStart(record.Kind))
        {
            if (_messagesKept.TryGetValue(record.Message, out var message) && message.Deliveries!.Count < DeliveriesPerMessageMax)
                message.Deliveries.Add(new Delivery(record.TimeUs, record.Actor, Cut(record.Details), record.EventIndex));
            else _deliveriesOmitted++;
            return;
        }
        var item = new Item
        {
            TimeUs = record.TimeUs,
            EventIndex = record.EventIndex,
            Actor = record.Actor,
            Kind = record.Kind,
            Details = Cut(record.Details),
            Message = record.Message,
            Class = ClassOf(record),
            Sequence = _sequence++,
        };
        // History completions near the focus matter more than messages equally near, but not more than messages
        // right at it: they count as four times closer.
        long distance = DistanceToFocus(item.TimeUs);
        item.Distance = item.Class == 1 ? distance / 4 : distance;
        if (item.Message != 0)
        {
            item.Deliveries = new List<Delivery>(1);
            _messagesKept[item.Message] = item;
        }
        if (item.Kind == "fault") item.UntilUs = ParseUntilUs(item.Details);
        _kept.Enqueue(item, item);
        if (_kept.Count > _maxItems)
        {
            var worst = _kept.Dequeue();
            if (worst.Message != 0) _messagesKept.Remove(worst.Message);
            _evicted++;
        }
    }

    private static bool IsMessageStart(string kind) => kind is "send" or "connect" or "accept";

    /// <summary>0: kept before anything else (faults, restarts, warnings, the verdict); 1: history completions and
    /// other log lines; 2: the rest (messages, timers, invokes). 1 and 2 compete by distance to the focus.</summary>
    private static int ClassOf(in TraceRecord r)
    {
        if (r.Kind == "fault" || r.Actor == "nemesis") return 0;
        switch (r.Kind)
        {
            case "restart" or "resume" or "client-restart" or "client-start" or "boot" or "verdict" or "reset"
                or "client-drop" or "consumer-error" or "connect-failed":
                return 0;
            case "log":
                return r.Details.StartsWith("information", StringComparison.Ordinal) || r.Details.StartsWith("debug", StringComparison.Ordinal) ? 1 : 0;
            case "send-ok" or "send-fail" or "send-info" or "poll-ok":
                return 1;
            default:
                return 2;
        }
    }

    private long DistanceToFocus(long t)
    {
        int i = Array.BinarySearch(_focusUs, t);
        if (i >= 0) return 0;
        i = ~i;
        long best = long.MaxValue;
        if (i < _focusUs.Length) best = _focusUs[i] - t;
        if (i > 0) best = Math.Min(best, t - _focusUs[i - 1]);
        return best;
    }

    /// <summary>History records name their process first ("p7 ..."): that is how a history operation finds its lane.</summary>
    private void LearnProcess(in TraceRecord r)
    {
        if (r.Details.Length < 2 || r.Details[0] != 'p' || !char.IsAsciiDigit(r.Details[1])) return;
        if (!r.Kind.StartsWith("send-", StringComparison.Ordinal) && !r.Kind.StartsWith("poll-", StringComparison.Ordinal)) return;
        int end = 1;
        while (end < r.Details.Length && char.IsAsciiDigit(r.Details[end])) end++;
        if (end > 10 || _processActors.Count >= ProcessesMax) return;
        int process = int.Parse(r.Details.AsSpan(1, end - 1), CultureInfo.InvariantCulture);
        _processActors.TryAdd(process, r.Actor);
    }

    /// <summary>"crash until 5123 ms: ..." gives the end of the band; a fault without one is a moment.</summary>
    private static long ParseUntilUs(string details)
    {
        const string marker = " until ";
        int at = details.IndexOf(marker, StringComparison.Ordinal);
        int colon = details.IndexOf(':', StringComparison.Ordinal);
        if (at < 0 || (colon >= 0 && colon < at)) return -1;
        int start = at + marker.Length, end = start;
        while (end < details.Length && char.IsAsciiDigit(details[end])) end++;
        return end > start && end - start < 15 && long.TryParse(details.AsSpan(start, end - start), NumberStyles.None, CultureInfo.InvariantCulture, out long ms)
            ? ms * 1000 : -1;
    }

    private static string Cut(string s) => s.Length <= DetailsMax ? s : string.Concat(s.AsSpan(0, DetailsMax), "...");

    // ---- the page ----------------------------------------------------------------------------------------------

    /// <summary>A history operation the verdict points at, placed on its client's lane.</summary>
    private sealed record Mark(long TimeUs, int Process, string Text);

    private static List<Mark> Implicated(SimulationResult result)
    {
        var marks = new List<Mark>();
        if (result.FirstViolation?.Checker != "history" && result.HistoryProblems.Count == 0) return marks;
        CheckResult check;
        try
        {
            check = HistoryChecker.Check(result.History, HistoryVerdict.OptionsFor(result.Options));
        }
        catch (Exception)
        {
            return marks; // the checker itself failed in this run (a Crash verdict says so); nothing to mark
        }
        var ops = result.History.Operations;
        // One mark per operation, naming every anomaly it takes part in; history order is time order.
        var byOperation = new SortedDictionary<int, List<string>>();
        foreach (var anomaly in check.Anomalies.Where(a => a.Forbidden).Take(20))
        {
            foreach (int index in anomaly.Operations.Take(8))
            {
                if (index < 0 || index >= ops.Count) continue;
                if (!byOperation.TryGetValue(index, out var why)) byOperation[index] = why = new List<string>();
                if (why.Count < 4) why.Add(anomaly.Name + ": " + Cut(anomaly.Explanation));
            }
        }
        foreach (var (index, why) in byOperation)
        {
            var op = ops[index];
            marks.Add(new Mark(op.TimeMs * 1000, op.Process, string.Create(CultureInfo.InvariantCulture,
                $"op {index}: {op.Type} {op.Kind} by p{op.Process}{Describe(op)}\n{string.Join("\n", why)}")));
        }
        return marks;
    }

    private static string Describe(Operation op)
    {
        var b = new StringBuilder();
        foreach (var micro in op.Value.Take(3))
        {
            switch (micro)
            {
                case SendOp s:
                    b.Append(CultureInfo.InvariantCulture, $", value {s.Value} to {s.Partition}{(s.Offset is { } o ? " @" + o.ToString(CultureInfo.InvariantCulture) : "")}");
                    break;
                case PollOp p:
                    foreach (var part in p.Partitions.Take(4))
                        if (part.Records.Count > 0)
                            b.Append(CultureInfo.InvariantCulture, $", read {part.Partition} {part.Records[0].Offset}..{part.Records[^1].Offset}");
                    break;
            }
        }
        return b.ToString();
    }

    /// <summary>Writes the page. <paramref name="result"/> is the run's result (the replay's own).</summary>
    public void Render(TextWriter output, SimulationResult result)
    {
        var lanes = Lanes(result.Options);
        var laneIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < lanes.Count; i++) laneIndex[lanes[i].Name] = i;
        int Lane(string actor) => laneIndex.TryGetValue(actor, out int i) ? i : laneIndex["world"];

        // Drawn in time order; the heap's order is the eviction order, not the page's.
        var items = _kept.UnorderedItems.Select(x => x.Element).OrderBy(x => x.TimeUs).ThenBy(x => x.Sequence).ToList();
        var marks = Implicated(result);

        var j = new JsonOut();
        j.Raw("{");
        j.Key("title").Str(string.Create(CultureInfo.InvariantCulture, $"seed {result.Seed}: {result.Verdict}")).Raw(",");
        j.Key("seed").Str(result.Seed.ToString(CultureInfo.InvariantCulture)).Raw(",");
        j.Key("verdict").Str(result.Verdict.ToString()).Raw(",");
        j.Key("hash").Str(string.Create(CultureInfo.InvariantCulture, $"0x{result.TraceHash:x16}")).Raw(",");
        j.Key("endUs").Num(Math.Max(_endUs, 1)).Raw(",");
        j.Key("healUs").Num(_healUs).Raw(",");
        j.Key("lanes").Raw("[");
        for (int i = 0; i < lanes.Count; i++)
        {
            if (i > 0) j.Raw(",");
            j.Raw("[").Str(lanes[i].Name).Raw(",").Str(lanes[i].Role).Raw("]");
        }
        j.Raw("],");

        j.Key("events").Raw("[");
        bool first = true;
        foreach (var it in items.Where(x => x.Message == 0 && x.Kind != "fault"))
        {
            if (!first) j.Raw(",");
            first = false;
            j.Raw("[").Num(it.TimeUs).Raw(",").Num(Lane(it.Actor)).Raw(",").Str(it.Kind).Raw(",").Str(it.Details).Raw(",")
                .Num(it.EventIndex).Raw(",").Num(it.Class).Raw("]");
        }
        j.Raw("],");

        j.Key("messages").Raw("[");
        first = true;
        foreach (var it in items.Where(x => x.Message != 0))
        {
            if (!first) j.Raw(",");
            first = false;
            j.Raw("[").Num(it.TimeUs).Raw(",").Num(Lane(it.Actor)).Raw(",").Str(it.Kind).Raw(",").Str(it.Details).Raw(",")
                .Num(it.EventIndex).Raw(",").Num(it.Message).Raw(",[");
            for (int d = 0; d < it.Deliveries!.Count; d++)
            {
                var del = it.Deliveries[d];
                if (d > 0) j.Raw(",");
                j.Raw("[").Num(del.TimeUs).Raw(",").Num(Lane(del.Actor)).Raw(",").Str(del.Details).Raw(",").Num(del.EventIndex).Raw("]");
            }
            j.Raw("]]");
        }
        j.Raw("],");

        j.Key("bands").Raw("[");
        first = true;
        foreach (var it in items.Where(x => x.Kind == "fault"))
        {
            if (!first) j.Raw(",");
            first = false;
            int colon = it.Details.IndexOf(':', StringComparison.Ordinal);
            string name = it.Details[..(colon < 0 ? it.Details.Length : colon)];
            int space = name.IndexOf(' ', StringComparison.Ordinal);
            if (space >= 0) name = name[..space];
            j.Raw("[").Num(it.TimeUs).Raw(",").Num(it.UntilUs).Raw(",").Num(Lane(it.Actor)).Raw(",").Str(name).Raw(",")
                .Str(it.Details).Raw(",").Num(it.EventIndex).Raw("]");
        }
        j.Raw("],");

        j.Key("marks").Raw("[");
        first = true;
        foreach (var m in marks.Take(500))
        {
            if (!first) j.Raw(",");
            first = false;
            string actor = _processActors.TryGetValue(m.Process, out var a) ? a : "world";
            j.Raw("[").Num(m.TimeUs).Raw(",").Num(Lane(actor)).Raw(",").Str(m.Text).Raw("]");
        }
        j.Raw("],");

        j.Key("violation");
        if (result.FirstViolation is { } v)
        {
            j.Raw("{").Key("t").Num(v.TimeUs).Raw(",").Key("event").Num(v.EventIndex).Raw(",").Key("checker").Str(v.Checker).Raw(",")
                .Key("message").Str(Cut(v.Message)).Raw("}");
        }
        else j.Raw("null");
        j.Raw(",");

        j.Key("problems").Raw("[");
        for (int i = 0; i < result.HistoryProblems.Count; i++)
        {
            if (i > 0) j.Raw(",");
            j.Str(Cut(result.HistoryProblems[i]));
        }
        j.Raw("],");
        j.Key("options").Str(result.Options.Describe()).Raw(",");
        j.Key("stats").Raw("{").Key("records").Num(_records).Raw(",").Key("drawn").Num(items.Count).Raw(",")
            .Key("evicted").Num(_evicted).Raw(",").Key("noops").Num(_noOps).Raw(",").Key("deliveriesOmitted").Num(_deliveriesOmitted).Raw(",")
            .Key("maxItems").Num(_maxItems).Raw(",").Key("events").Num(result.Events).Raw("}");
        j.Raw("}");

        output.Write(PageHead);
        output.Write("<title>DetKafka ");
        output.Write(Html(string.Create(CultureInfo.InvariantCulture, $"seed {result.Seed}: {result.Verdict}")));
        output.Write("</title>\n");
        output.Write(PageStyle);
        output.Write(PageBody);
        output.Write("<script type=\"application/json\" id=\"data\">");
        output.Write(j.ToString());
        output.Write("</script>\n");
        output.Write(PageScript);
    }

    private sealed record LaneInfo(string Name, string Role);

    /// <summary>Nodes, then client hosts (producers, then consumers, as the world numbers them), then every other
    /// actor that appeared (the nemesis, the network, the world: the world's lane takes anything unplaced).</summary>
    private List<LaneInfo> Lanes(SimulationOptions options)
    {
        var lanes = new List<LaneInfo>();
        for (int i = 1; i <= options.Nodes; i++) lanes.Add(new LaneInfo("n" + i.ToString(CultureInfo.InvariantCulture), "broker"));
        int slot = 1;
        foreach (var p in options.Workload.Producers)
            lanes.Add(new LaneInfo("c" + (slot++).ToString(CultureInfo.InvariantCulture),
                string.Create(CultureInfo.InvariantCulture, $"producer acks={p.Acks}")));
        foreach (var _ in options.Workload.Consumers)
            lanes.Add(new LaneInfo("c" + (slot++).ToString(CultureInfo.InvariantCulture), "consumer"));
        for (int i = 0; i < (options.Workload.Group?.Members ?? 0); i++)
            lanes.Add(new LaneInfo("c" + (slot++).ToString(CultureInfo.InvariantCulture), "group member"));
        var named = new HashSet<string>(lanes.Select(l => l.Name), StringComparer.Ordinal);
        foreach (var actor in _actors.Append("world"))
        {
            if (!named.Add(actor)) continue;
            lanes.Add(new LaneInfo(actor, actor switch
            {
                "nemesis" => "fault episodes",
                "net" => "connection resets",
                "world" => "boot, verdict",
                _ => "",
            }));
        }
        return lanes;
    }

    private static string Html(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal);

    private readonly record struct Delivery(long TimeUs, string Actor, string Details, long EventIndex);

    private sealed class Item
    {
        public long TimeUs;
        public long EventIndex;
        public string Actor = "";
        public string Kind = "";
        public string Details = "";
        public long Message;
        public int Class;
        public long Distance;
        public long Sequence;
        public long UntilUs = -1;
        public List<Delivery>? Deliveries;
    }

    /// <summary>The heap's top is the item to drop first: anything before class 0, then the farthest from the
    /// focus, then the latest recorded.</summary>
    private sealed class WorstFirst : IComparer<Item>
    {
        public static readonly WorstFirst Instance = new();

        public int Compare(Item? a, Item? b)
        {
            int c = (a!.Class == 0).CompareTo(b!.Class == 0);
            if (c != 0) return c;
            c = b!.Distance.CompareTo(a.Distance);
            return c != 0 ? c : b.Sequence.CompareTo(a.Sequence);
        }
    }

    /// <summary>JSON for a script element: every '&lt;', '&gt;' and '&amp;' escaped, so no string can close it.</summary>
    private sealed class JsonOut
    {
        private readonly StringBuilder _b = new(1 << 16);

        public JsonOut Raw(string s)
        {
            _b.Append(s);
            return this;
        }

        public JsonOut Key(string k) => Str(k).Raw(":");

        public JsonOut Num(long v)
        {
            _b.Append(v.ToString(CultureInfo.InvariantCulture));
            return this;
        }

        public JsonOut Str(string s)
        {
            _b.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': _b.Append("\\\""); break;
                    case '\\': _b.Append("\\\\"); break;
                    case '\n': _b.Append("\\n"); break;
                    case '<' or '>' or '&' or '\u2028' or '\u2029':
                        _b.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        break;
                    default:
                        if (c < 0x20 || char.IsSurrogate(c)) _b.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else _b.Append(c);
                        break;
                }
            }
            _b.Append('"');
            return this;
        }

        public override string ToString() => _b.ToString();
    }

    private const string PageHead = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";

    private const string PageStyle = """
        <style>
        body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
        header { padding: 8px 12px; background: #fff; border-bottom: 1px solid #ddd; position: sticky; top: 0; z-index: 2; }
        h1 { font-size: 16px; margin: 0 0 4px 0; }
        .pass { color: #1a7f37; } .fail { color: #c62828; }
        .bar { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; margin-top: 4px; }
        button { font: inherit; padding: 1px 8px; }
        #violation { color: #c62828; margin-top: 4px; font-weight: 600; }
        #stats { color: #555; margin-top: 2px; }
        #wrap { position: relative; }
        canvas { display: block; cursor: grab; }
        #tip { position: fixed; pointer-events: none; background: #fffff0; border: 1px solid #999; padding: 4px 6px; max-width: 640px;
               white-space: pre-wrap; font: 12px/1.35 ui-monospace, monospace; display: none; z-index: 3; box-shadow: 2px 2px 6px #0003; }
        main { display: flex; gap: 16px; padding: 8px 12px; align-items: flex-start; }
        section { background: #fff; border: 1px solid #ddd; padding: 6px 10px; max-height: 360px; overflow: auto; }
        section h2 { font-size: 13px; margin: 0 0 4px 0; }
        #faults div { cursor: pointer; white-space: nowrap; } #faults div:hover { background: #eef; }
        pre { margin: 0; font: 12px/1.35 ui-monospace, monospace; }
        .key span { display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 8px; vertical-align: -1px; }
        </style>
        </head>

        """;

    private const string PageBody = """
        <body>
        <header>
          <h1 id="title"></h1>
          <div id="violation"></div>
          <div class="bar">
            <button id="fit">Fit</button><button id="zin">Zoom in</button><button id="zout">Zoom out</button>
            <button id="goto">Go to violation</button><button id="nextMark">Next implicated op</button>
            <label><input type="checkbox" id="showMsg" checked> messages</label>
            <label><input type="checkbox" id="showOps" checked> history ops</label>
            <label><input type="checkbox" id="showLog" checked> logs</label>
            <label><input type="checkbox" id="showEv" checked> other events</label>
            <span id="range"></span>
          </div>
          <div class="bar key">
            <span style="background:#1f6feb"></span>request <span style="background:#2da44e"></span>response
            <span style="background:#999"></span>connect <span style="background:#d1242f"></span>lost/dropped
            <span style="background:#8250df"></span>history op <span style="background:#bf8700"></span>warning
            <span style="background:#f4a26166"></span>fault <span style="background:#c62828"></span>violation
            &nbsp; wheel: zoom, drag: pan, hover: details
          </div>
          <div id="stats"></div>
        </header>
        <div id="wrap"><canvas id="c"></canvas></div>
        <div id="tip"></div>
        <main>
          <section><h2>Faults (click to go there)</h2><div id="faults"></div></section>
          <section><h2>History problems</h2><pre id="problems"></pre></section>
          <section><h2>Options the seed drew</h2><pre id="options"></pre></section>
        </main>

        """;

    private const string PageScript = """
        <script>
        "use strict";
        const D = JSON.parse(document.getElementById("data").textContent);
        const canvas = document.getElementById("c"), ctx = canvas.getContext("2d"), tip = document.getElementById("tip");
        const GUTTER = 150, AXIS = 28, LANE = 46;
        const end = D.endUs;
        let v0 = 0, v1 = end * 1.02 + 1000, hits = [], pending = false;
        const $ = id => document.getElementById(id);
        const fmt = us => {
          const a = Math.abs(us);
          if (a >= 1e6) return (us / 1e6).toFixed(a >= 1e8 ? 1 : 3) + " s";
          if (a >= 1e3) return (us / 1e3).toFixed(3) + " ms";
          return us + " us";
        };
        const at = us => fmt(us) + " (" + us + " us)";
        $("title").textContent = "DetKafka simulation, " + D.title + "  ·  trace-hash " + D.hash;
        $("title").className = D.verdict === "Pass" ? "pass" : "fail";
        if (D.violation) {
          $("violation").textContent = "First violation at event " + D.violation.event + ", " + fmt(D.violation.t) + ": [" + D.violation.checker + "] " + D.violation.message;
        } else { $("goto").disabled = true; }
        if (!D.marks.length) $("nextMark").disabled = true;
        else $("nextMark").textContent = "Next implicated op (" + D.marks.length + ")";
        let markAt = -1;
        const s = D.stats;
        $("stats").textContent = s.records + " trace records; drawn: " + s.drawn + " items" +
          (s.evicted > 0 ? "; LEFT OUT: " + s.evicted + " items (at most " + s.maxItems + " are drawn; kept first: faults, restarts and warnings, then what lies nearest the violation and the operations it implicates)" : "") +
          (s.deliveriesOmitted > 0 ? "; " + s.deliveriesOmitted + " deliveries of left-out messages" : "") +
          "; " + s.noops + " no-op timer records not drawn. The JSON lines trace has everything.";
        $("problems").textContent = D.problems.length ? D.problems.join("\n") : "(none)";
        $("options").textContent = D.options;

        const bandEnd = b => { let e = b[1] < 0 ? b[0] : b[1]; if (D.healUs >= 0 && e > D.healUs && b[0] <= D.healUs) e = D.healUs; return e; };
        const faults = $("faults"), episodes = new Map();
        for (const b of D.bands) {
          const key = b[5] + " " + b[3];
          if (episodes.has(key)) { episodes.get(key).lanes.push(D.lanes[b[2]][0]); continue; }
          episodes.set(key, { b, lanes: [D.lanes[b[2]][0]] });
        }
        for (const { b, lanes } of episodes.values()) {
          const div = document.createElement("div");
          div.textContent = fmt(b[0]) + "  [" + lanes.join(", ") + "]  " + b[4];
          div.onclick = () => { const e = Math.max(bandEnd(b), b[0] + 1000), pad = (e - b[0]) * 0.5 + 2000; setView(b[0] - pad, e + pad); };
          faults.appendChild(div);
        }
        if (!D.bands.length) faults.textContent = "(no fault episodes)";

        function setView(a, b) {
          if (b - a < 20) { const m = (a + b) / 2; a = m - 10; b = m + 10; }
          const max = end * 1.5 + 10000;
          if (b - a > max) { a = -end * 0.02; b = a + max; }
          v0 = a; v1 = b; schedule();
        }
        function schedule() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
        const X = t => GUTTER + (t - v0) / (v1 - v0) * (canvas.clientWidth - GUTTER);
        const Y = lane => AXIS + lane * LANE + LANE / 2;

        function resize() {
          const w = document.body.clientWidth, h = AXIS + D.lanes.length * LANE + 8, r = window.devicePixelRatio || 1;
          canvas.style.width = w + "px"; canvas.style.height = h + "px";
          canvas.width = Math.round(w * r); canvas.height = Math.round(h * r);
          ctx.setTransform(r, 0, 0, r, 0, 0); schedule();
        }

        function niceStep(span, px) {
          const raw = span / Math.max(1, px / 110), p = Math.pow(10, Math.floor(Math.log10(raw)));
          for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
          return 10 * p;
        }

        function eventColor(e) {
          const k = e[2];
          if (k === "send-ok" || k === "poll-ok") return "#8250df";
          if (k === "send-fail" || k === "consumer-error") return "#d1242f";
          if (k === "send-info" || k === "client-drop") return "#bf8700";
          if (k === "log") return e[5] === 0 ? "#bf8700" : "#888";
          if (k === "restart" || k === "client-restart" || k === "resume" || k === "client-start" || k === "heal") return "#2da44e";
          if (k === "verdict") return D.verdict === "Pass" ? "#2da44e" : "#c62828";
          if (k === "reset") return "#d1242f";
          return "#666";
        }
        const isOp = e => e[2].startsWith("send-") || e[2].startsWith("poll-");
        function visible(e) {
          if (e[2] === "log") return $("showLog").checked;
          if (isOp(e)) return $("showOps").checked;
          if (e[5] === 0) return true;
          return $("showEv").checked;
        }

        function draw() {
          pending = false; hits = [];
          const W = canvas.clientWidth, H = canvas.clientHeight;
          ctx.clearRect(0, 0, W, H);
          ctx.font = "12px system-ui, sans-serif";
          for (let i = 0; i < D.lanes.length; i++) {
            ctx.fillStyle = i % 2 ? "#f3f4f6" : "#ffffff"; ctx.fillRect(0, AXIS + i * LANE, W, LANE);
          }
          // axis
          const step = niceStep(v1 - v0, W - GUTTER);
          ctx.strokeStyle = "#e1e4e8"; ctx.fillStyle = "#555"; ctx.lineWidth = 1;
          for (let t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
            const x = X(t); if (x < GUTTER) continue;
            ctx.beginPath(); ctx.moveTo(x, AXIS - 4); ctx.lineTo(x, H); ctx.stroke();
            ctx.fillText(fmt(Math.round(t)), x + 2, AXIS - 8);
          }
          ctx.save(); ctx.beginPath(); ctx.rect(GUTTER, 0, W - GUTTER, H); ctx.clip();
          // heal line
          if (D.healUs >= 0) { const x = X(D.healUs); ctx.strokeStyle = "#2da44e"; ctx.setLineDash([4, 4]); ctx.beginPath(); ctx.moveTo(x, AXIS); ctx.lineTo(x, H); ctx.stroke(); ctx.setLineDash([]); ctx.fillStyle = "#2da44e"; ctx.fillText("heal", x + 3, AXIS + 11); }
          // fault bands
          for (const b of D.bands) {
            const e = bandEnd(b), x0 = X(b[0]), x1 = Math.max(X(e), x0 + 3), y = AXIS + b[2] * LANE;
            if (x1 < GUTTER || x0 > W) continue;
            ctx.fillStyle = b[3] === "crash" || b[3] === "client-crash" ? "#d1242f33" : b[3] === "pause" ? "#8250df2a" : "#f4a26155";
            ctx.fillRect(x0, y + 2, x1 - x0, LANE - 4);
            ctx.fillStyle = "#9a3412"; ctx.fillText(b[3], Math.max(x0, GUTTER) + 2, y + 13);
            hits.push({ k: "band", x0, x1, y0: y, y1: y + LANE, d: b });
          }
          // messages
          if ($("showMsg").checked) {
            for (const m of D.messages) {
              const xs = X(m[0]), ys = Y(m[1]);
              const last = m[6].length ? m[6][m[6].length - 1][0] : m[0];
              if (X(last) < GUTTER - 20 || xs > W + 20) continue;
              const lost = /never arrives|dropped/.test(m[3]);
              const color = m[2] !== "send" ? "#999" : (/ request #/.test(m[3]) ? "#1f6feb" : (/^conn-\d+ response/.test(m[3]) ? "#2da44e" : "#555"));
              if (!m[6].length) {
                ctx.strokeStyle = "#d1242f"; ctx.beginPath(); ctx.moveTo(xs, ys); ctx.lineTo(xs + 8, ys - 8); ctx.stroke();
                hits.push({ k: "pt", x: xs, y: ys, d: m, msg: true });
                continue;
              }
              for (const dl of m[6]) {
                const xd = X(dl[0]), yd = Y(dl[1]), dropped = lost || /dropped/.test(dl[2]);
                ctx.strokeStyle = dropped ? "#d1242f" : color; ctx.globalAlpha = 0.75;
                ctx.beginPath(); ctx.moveTo(xs, ys); ctx.lineTo(xd, yd); ctx.stroke();
                if (Math.hypot(xd - xs, yd - ys) > 14) {
                  const a = Math.atan2(yd - ys, xd - xs);
                  ctx.beginPath(); ctx.moveTo(xd, yd); ctx.lineTo(xd - 7 * Math.cos(a - 0.4), yd - 7 * Math.sin(a - 0.4));
                  ctx.moveTo(xd, yd); ctx.lineTo(xd - 7 * Math.cos(a + 0.4), yd - 7 * Math.sin(a + 0.4)); ctx.stroke();
                }
                ctx.globalAlpha = 1;
                hits.push({ k: "seg", x0: xs, y0: ys, x1: xd, y1: yd, d: m });
              }
            }
          }
          // events
          for (const e of D.events) {
            const x = X(e[0]); if (x < GUTTER - 5 || x > W + 5 || !visible(e)) continue;
            const y = Y(e[1]) + (isOp(e) ? -12 : e[2] === "log" ? 12 : 0);
            ctx.fillStyle = eventColor(e);
            if (isOp(e)) { ctx.beginPath(); ctx.moveTo(x, y - 4); ctx.lineTo(x + 4, y); ctx.lineTo(x, y + 4); ctx.lineTo(x - 4, y); ctx.fill(); }
            else if (e[5] === 0) { ctx.beginPath(); ctx.moveTo(x, y - 6); ctx.lineTo(x + 5, y + 4); ctx.lineTo(x - 5, y + 4); ctx.fill(); }
            else ctx.fillRect(x - 1, y - 4, 2, 8);
            hits.push({ k: "pt", x, y, d: e });
          }
          // operations the verdict implicates
          for (const mk of D.marks) {
            const x = X(mk[0]), y = Y(mk[1]) - 12; if (x < GUTTER - 10 || x > W + 10) continue;
            ctx.strokeStyle = "#c62828"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(x, y, 8, 0, 2 * Math.PI); ctx.stroke(); ctx.lineWidth = 1;
            hits.push({ k: "pt", x, y, d: mk, mark: true });
          }
          // the first violation
          if (D.violation) {
            const x = X(D.violation.t);
            ctx.strokeStyle = "#c62828"; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(x, AXIS - 6); ctx.lineTo(x, H); ctx.stroke(); ctx.lineWidth = 1;
            ctx.fillStyle = "#c62828"; ctx.font = "bold 12px system-ui, sans-serif";
            const label = "\u2716 " + D.violation.checker;
            ctx.fillText(label, Math.min(x + 4, W - ctx.measureText(label).width - 4), AXIS + 24);
            hits.push({ k: "viol", x, d: D.violation });
          }
          ctx.restore();
          // lane labels
          ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, GUTTER, H);
          ctx.strokeStyle = "#ccc"; ctx.beginPath(); ctx.moveTo(GUTTER, 0); ctx.lineTo(GUTTER, H); ctx.stroke();
          for (let i = 0; i < D.lanes.length; i++) {
            ctx.fillStyle = "#222"; ctx.font = "bold 13px system-ui, sans-serif"; ctx.fillText(D.lanes[i][0], 8, Y(i) - 2);
            ctx.fillStyle = "#777"; ctx.font = "11px system-ui, sans-serif"; ctx.fillText(D.lanes[i][1], 8, Y(i) + 12);
          }
          $("range").textContent = "showing " + fmt(Math.max(0, Math.round(v0))) + " \u2013 " + fmt(Math.round(v1)) + " of " + fmt(end);
        }

        function distSeg(px, py, h) {
          const dx = h.x1 - h.x0, dy = h.y1 - h.y0, l = dx * dx + dy * dy;
          let t = l ? ((px - h.x0) * dx + (py - h.y0) * dy) / l : 0; t = Math.max(0, Math.min(1, t));
          return Math.hypot(px - (h.x0 + t * dx), py - (h.y0 + t * dy));
        }
        function describe(h) {
          const d = h.d, lane = i => D.lanes[i][0];
          if (h.k === "viol") return "FIRST VIOLATION\nevent " + d.event + " at " + at(d.t) + "\n[" + d.checker + "] " + d.message;
          if (h.k === "band") return "fault " + d[3] + " on " + lane(d[2]) + "\nfrom " + at(d[0]) + (d[1] >= 0 ? "\nuntil " + at(bandEnd(d)) : "") + "\nevent " + d[5] + "\n" + d[4];
          if (h.mark) return "IMPLICATED OPERATION on " + lane(d[1]) + " at " + at(d[0]) + "\n" + d[2];
          if (h.msg || h.k === "seg") {
            let s = d[2] + " #" + d[5] + " from " + lane(d[1]) + " at " + at(d[0]) + " (event " + d[4] + ")\n" + d[3];
            for (const dl of d[6]) s += "\n\u2192 " + lane(dl[1]) + " at " + at(dl[0]) + " (+" + (dl[0] - d[0]) + " us, event " + dl[3] + "): " + dl[2];
            if (!d[6].length) s += "\n(no delivery in the trace)";
            return s;
          }
          return d[2] + " on " + lane(d[1]) + " at " + at(d[0]) + " (event " + d[4] + ")\n" + d[3];
        }
        canvas.addEventListener("mousemove", ev => {
          const r = canvas.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
          if (drag) { const dt = (drag.x - px) / (canvas.clientWidth - GUTTER) * (drag.v1 - drag.v0); v0 = drag.v0 + dt; v1 = drag.v1 + dt; schedule(); tip.style.display = "none"; return; }
          let best = null, bd = 7;
          for (const h of hits) {
            let dd;
            if (h.k === "pt") dd = Math.hypot(px - h.x, py - h.y);
            else if (h.k === "seg") dd = distSeg(px, py, h) + 1;
            else if (h.k === "viol") dd = Math.abs(px - h.x) + 2;
            else dd = px >= h.x0 && px <= h.x1 && py >= h.y0 && py <= h.y1 ? 6.5 : 99;
            if (dd < bd) { bd = dd; best = h; }
          }
          if (!best) { tip.style.display = "none"; return; }
          tip.textContent = describe(best); tip.style.display = "block";
          const tw = tip.offsetWidth, th = tip.offsetHeight;
          tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - tw - 6) + "px";
          tip.style.top = (ev.clientY + 16 + th > window.innerHeight ? ev.clientY - th - 10 : ev.clientY + 16) + "px";
        });
        let drag = null;
        canvas.addEventListener("mousedown", ev => { drag = { x: ev.clientX - canvas.getBoundingClientRect().left, v0, v1 }; canvas.style.cursor = "grabbing"; });
        window.addEventListener("mouseup", () => { drag = null; canvas.style.cursor = "grab"; });
        canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
        function zoomAt(px, f) {
          const t = v0 + (px - GUTTER) / (canvas.clientWidth - GUTTER) * (v1 - v0);
          setView(t - (t - v0) * f, t + (v1 - t) * f);
        }
        canvas.addEventListener("wheel", ev => {
          ev.preventDefault();
          const r = canvas.getBoundingClientRect();
          if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) { const dt = (ev.deltaX || ev.deltaY) / (canvas.clientWidth - GUTTER) * (v1 - v0); setView(v0 + dt, v1 + dt); return; }
          zoomAt(Math.max(GUTTER, ev.clientX - r.left), Math.exp(ev.deltaY * 0.0015));
        }, { passive: false });
        window.addEventListener("keydown", ev => {
          const span = v1 - v0, mid = GUTTER + (canvas.clientWidth - GUTTER) / 2;
          if (ev.key === "+" || ev.key === "=") zoomAt(mid, 0.7);
          else if (ev.key === "-") zoomAt(mid, 1 / 0.7);
          else if (ev.key === "ArrowLeft") setView(v0 - span * 0.2, v1 - span * 0.2);
          else if (ev.key === "ArrowRight") setView(v0 + span * 0.2, v1 + span * 0.2);
        });
        $("fit").onclick = () => setView(-end * 0.01, end * 1.02 + 1000);
        $("zin").onclick = () => zoomAt(GUTTER + (canvas.clientWidth - GUTTER) / 2, 0.5);
        $("zout").onclick = () => zoomAt(GUTTER + (canvas.clientWidth - GUTTER) / 2, 2);
        $("goto").onclick = () => { if (D.violation) { const w = Math.max(2000, end / 50); setView(D.violation.t - w * 0.8, D.violation.t + w * 0.2); } };
        $("nextMark").onclick = () => {
          if (!D.marks.length) return;
          markAt = (markAt + 1) % D.marks.length;
          const t = D.marks[markAt][0], w = Math.max(2000, end / 100);
          setView(t - w / 2, t + w / 2);
        };
        for (const id of ["showMsg", "showOps", "showLog", "showEv"]) $(id).onchange = schedule;
        window.addEventListener("resize", resize);
        resize();
        </script>
        </body>
        </html>

        """;
}
