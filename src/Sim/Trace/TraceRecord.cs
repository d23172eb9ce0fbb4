using System.Globalization;
using System.Text;

namespace DetKafka.Sim.Trace;

/// <summary>
/// One line of a run's trace. Every simulated event produces one record (kind = the event's kind); broker log
/// lines, history operations and fault actions inside that event add records with the same
/// <see cref="EventIndex"/>. <see cref="TimeUs"/> is global virtual time in microseconds; <see cref="Actor"/> names
/// the node ("n1"), client host ("c2"), link or the nemesis. <see cref="Message"/> pairs a network send with its
/// deliveries: the "send" record of a segment train (or a connection's "connect") and every "deliver" (or
/// "syn") event of it carry the same id, numbered in order from 1 within the run; 0 means no message.
/// </summary>
public readonly record struct TraceRecord(long EventIndex, long TimeUs, string Actor, string Kind, string Details, long Message = 0)
{
    /// <summary>The record as one JSON object (no trailing newline), keys in a fixed order; "msg" only when the
    /// record belongs to a message.</summary>
    public string ToJson()
    {
        var b = new StringBuilder(64 + Details.Length);
        b.Append("{\"event\":").Append(EventIndex.ToString(CultureInfo.InvariantCulture))
            .Append(",\"time_us\":").Append(TimeUs.ToString(CultureInfo.InvariantCulture))
            .Append(",\"actor\":");
        AppendJsonString(b, Actor);
        b.Append(",\"kind\":");
        AppendJsonString(b, Kind);
        b.Append(",\"details\":");
        AppendJsonString(b, Details);
        if (Message != 0) b.Append(",\"msg\":").Append(Message.ToString(CultureInfo.InvariantCulture));
        b.Append('}');
        return b.ToString();
    }

    private static void AppendJsonString(StringBuilder b, string s)
    {
        b.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\r': b.Append("\\r"); break;
                case '\t': b.Append("\\t"); break;
                default:
                    if (c < 0x20) b.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else b.Append(c);
                    break;
            }
        }
        b.Append('"');
    }
}

/// <summary>Receives the trace as the run goes. Called on the simulation's thread, in order.</summary>
public interface ITraceSink
{
    void Write(in TraceRecord record);
}

/// <summary>Writes each record as one JSON line.</summary>
public sealed class JsonLinesTraceSink(TextWriter writer) : ITraceSink
{
    public void Write(in TraceRecord record)
    {
        writer.Write(record.ToJson());
        writer.Write('\n');
    }
}

/// <summary>Keeps every record in memory (tests, the HTML timeline).</summary>
public sealed class ListTraceSink : ITraceSink
{
    public List<TraceRecord> Records { get; } = new();
    public void Write(in TraceRecord record) => Records.Add(record);
}

/// <summary>
/// FNV-1a, 64 bits, over the canonical form of each record (event index, time, actor, kind, details, each
/// field's UTF-16 code units, separated, then the message id). Written by hand so it is the same in every process and version,
/// unlike string.GetHashCode.
/// </summary>
public struct TraceHasher
{
    private const ulong OffsetBasis = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    private ulong _hash;
    private bool _started;

    public ulong Value => _started ? _hash : OffsetBasis;

    public void Add(in TraceRecord record)
    {
        if (!_started)
        {
            _hash = OffsetBasis;
            _started = true;
        }
        AddInt64(record.EventIndex);
        AddInt64(record.TimeUs);
        AddString(record.Actor);
        AddString(record.Kind);
        AddString(record.Details);
        AddInt64(record.Message);
    }

    private void AddByte(byte b)
    {
        _hash ^= b;
        _hash *= Prime;
    }

    private void AddInt64(long v)
    {
        for (int i = 0; i < 8; i++) AddByte((byte)(v >> (8 * i)));
    }

    private void AddString(string s)
    {
        foreach (char c in s)
        {
            AddByte((byte)c);
            AddByte((byte)(c >> 8));
        }
        AddInt64(s.Length); // the length ends each field, so adjacent fields cannot run into each other
    }
}

/// <summary>Hands every record to several sinks in order (the replay writes JSON lines and feeds the timeline).</summary>
public sealed class TeeTraceSink(params ITraceSink[] sinks) : ITraceSink
{
    public void Write(in TraceRecord record)
    {
        foreach (var sink in sinks) sink.Write(record);
    }
}
