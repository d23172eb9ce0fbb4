using System.Runtime.InteropServices;
using DetKafka.Core.Protocol;
using Invariant = DetKafka.Core.Util.Check;

namespace DetKafka.Sim.Checkers;

/// <summary>One (offset, value) sighting: the first operation that showed it, and whether any poll showed it.</summary>
internal struct OffsetEntry(long value, int firstOp, bool byPoll)
{
    public long Value = value;
    public int FirstOp = firstOp;
    public bool ByPoll = byPoll;
}

/// <summary>What the history says about one value in one partition.</summary>
internal sealed class ValueInfo
{
    /// <summary>Send micro-ops of this value to this partition: each is one attempt by the workload.</summary>
    public int Sends;

    public int OkWriter = -1;
    public int InfoWriter = -1;
    public int FailWriter = -1;

    /// <summary>Some Fail writer was a plain send (definitely not written), not an aborted transaction.</summary>
    public bool FailedPlainSend;

    public int FirstReader = -1;
    public long FirstReadOffset;

    /// <summary>Offsets where the value was seen (acknowledged sends and polls).</summary>
    public long FirstOffset;
    public int FirstOffsetOp = -1;
    public long MinOffset = long.MaxValue;
    public long MaxOffset = long.MinValue;
    public List<(long Offset, int Op)>? OtherOffsets;

    public bool Read => FirstReader >= 0;
    public bool HasOffset => FirstOffsetOp >= 0;

    /// <summary>The operation the dependency graph takes as this value's writer: only Ok and Info completions
    /// may have happened.</summary>
    public int Writer => OkWriter >= 0 ? OkWriter : InfoWriter;
}

/// <summary>
/// The version order of one partition as the history shows it: every offset given by an acknowledged send or read by
/// any poll, the value(s) seen there, and per value where it was seen and who wrote and read it. Jepsen's "dense
/// index" of an offset is its position in <see cref="Order"/>: offsets nobody observed do not count as skipped.
/// </summary>
internal sealed class PartitionLog(TopicPartition partition)
{
    public TopicPartition Partition { get; } = partition;
    public Dictionary<long, OffsetEntry> Offsets { get; } = new();

    /// <summary>Offsets seen holding more than one value: the values other than the first.</summary>
    public Dictionary<long, List<OffsetEntry>>? Conflicts { get; private set; }

    public Dictionary<long, ValueInfo> Values { get; } = new();

    /// <summary>The observed offsets, ascending; built by <see cref="Seal"/>.</summary>
    public long[] Order { get; private set; } = [];

    public ValueInfo Value(long value)
    {
        ref var info = ref CollectionsMarshal.GetValueRefOrAddDefault(Values, value, out bool exists);
        if (!exists) info = new ValueInfo();
        return info!;
    }

    /// <summary>Records that operation <paramref name="op"/> showed <paramref name="value"/> at <paramref name="offset"/>.</summary>
    public void Sight(long offset, long value, int op, bool byPoll)
    {
        ref var entry = ref CollectionsMarshal.GetValueRefOrAddDefault(Offsets, offset, out bool exists);
        if (!exists)
        {
            entry = new OffsetEntry(value, op, byPoll);
            NewPair(offset, value, op, byPoll);
            return;
        }
        if (entry.Value == value)
        {
            if (byPoll && !entry.ByPoll)
            {
                entry.ByPoll = true;
                MarkRead(value, offset, op);
            }
            return;
        }

        Conflicts ??= new Dictionary<long, List<OffsetEntry>>();
        ref var others = ref CollectionsMarshal.GetValueRefOrAddDefault(Conflicts, offset, out bool had);
        if (!had) others = new List<OffsetEntry>(1);
        var span = CollectionsMarshal.AsSpan(others);
        for (int i = 0; i < span.Length; i++)
        {
            if (span[i].Value != value) continue;
            if (byPoll && !span[i].ByPoll)
            {
                span[i].ByPoll = true;
                MarkRead(value, offset, op);
            }
            return;
        }
        others!.Add(new OffsetEntry(value, op, byPoll));
        NewPair(offset, value, op, byPoll);
    }

    private void NewPair(long offset, long value, int op, bool byPoll)
    {
        var info = Value(value);
        if (!info.HasOffset)
        {
            info.FirstOffset = offset;
            info.FirstOffsetOp = op;
        }
        else
        {
            (info.OtherOffsets ??= new List<(long, int)>(1)).Add((offset, op));
        }
        info.MinOffset = Math.Min(info.MinOffset, offset);
        info.MaxOffset = Math.Max(info.MaxOffset, offset);
        if (byPoll && !info.Read)
        {
            info.FirstReader = op;
            info.FirstReadOffset = offset;
        }
    }

    private void MarkRead(long value, long offset, int op)
    {
        var info = Value(value);
        if (info.Read) return;
        info.FirstReader = op;
        info.FirstReadOffset = offset;
    }

    public void Seal()
    {
        var order = new long[Offsets.Count];
        Offsets.Keys.CopyTo(order, 0);
        Array.Sort(order);
        Order = order;
    }

    /// <summary>The dense index of an observed offset.</summary>
    public int IndexOf(long offset)
    {
        int i = Array.BinarySearch(Order, offset);
        Invariant.That(i >= 0, "every offset the checker compares was observed in pass one");
        return i;
    }

    /// <summary>Where a send landed: its acknowledged offset, else the one offset its value was seen at (an Info or
    /// acks=0 send that a poll read), else unknown.</summary>
    public long? SendPosition(long value, long? ackedOffset)
    {
        if (ackedOffset is long o) return o;
        if (Values.TryGetValue(value, out var info) && info.HasOffset && info.OtherOffsets is null) return info.FirstOffset;
        return null;
    }
}
