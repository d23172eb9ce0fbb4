using System.Buffers.Binary;
using System.Globalization;
using System.IO;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using DetKafka.Core.Protocol;
using DetKafka.Sim.World;

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
/// A 64-bit hash over each record's content: event index, time, actor, kind, the details' digest
/// (<see cref="TraceDetails"/>), message id. Word-wise: FNV-1a's xor-and-multiply on 64-bit words (four UTF-16
/// code units of a string at a time), with a fold of the high half down after each multiply so high input bits
/// reach every output bit. Written by hand, little-endian, so it is the same in every process and version,
/// unlike string.GetHashCode.
/// </summary>
public struct TraceHasher
{
    internal const ulong OffsetBasis = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    private ulong _hash;
    private bool _started;

    public ulong Value => _started ? _hash : OffsetBasis;

    public void Add(in TraceRecord record)
        => Add(record.EventIndex, record.TimeUs, record.Actor, record.Kind, TraceDetails.DigestOf(record.Details), record.Message);

    internal void Add(long eventIndex, long timeUs, string actor, string kind, ulong detailsDigest, long message)
    {
        if (!_started)
        {
            _hash = OffsetBasis;
            _started = true;
        }
        ulong h = _hash;
        h = Mix(h, (ulong)eventIndex);
        h = Mix(h, (ulong)timeUs);
        h = MixString(h, actor);
        h = MixString(h, kind);
        h = Mix(h, detailsDigest);
        h = Mix(h, (ulong)message);
        _hash = h;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Mix(ulong h, ulong word)
    {
        h = (h ^ word) * Prime;
        return h ^ (h >> 32);
    }

    /// <summary>The string's UTF-16 code units four to a word, then its length, which ends the field so adjacent
    /// fields cannot run into each other.</summary>
    internal static ulong MixString(ulong h, string s)
    {
        var bytes = MemoryMarshal.AsBytes(s.AsSpan());
        int i = 0;
        for (; i + 8 <= bytes.Length; i += 8) h = Mix(h, BinaryPrimitives.ReadUInt64LittleEndian(bytes[i..]));
        if (i < bytes.Length)
        {
            ulong tail = 0;
            for (int k = 0; i + k < bytes.Length; k++) tail |= (ulong)bytes[i + k] << (8 * k);
            h = Mix(h, tail);
        }
        return Mix(h, (ulong)s.Length);
    }
}

/// <summary>
/// The details of a trace record as the simulator carries them: a digest of their content, always (the trace
/// hash covers it), and their text only when a sink will read it. Strings convert implicitly (digest of the
/// text); <see cref="TraceDetailsBuilder"/> makes one from an interpolated string without formatting it when no
/// sink is attached, digesting its literal parts and values instead.
/// </summary>
public readonly struct TraceDetails
{
    private TraceDetails(ulong digest, string? text)
    {
        Digest = digest;
        Text = text;
    }

    /// <summary>Digest of the content; the same whether or not the text was formatted.</summary>
    public ulong Digest { get; }

    /// <summary>The text, or null when it was not formatted (no sink attached).</summary>
    public string? Text { get; }

    public static TraceDetails None { get; } = new(DigestOf(""), "");

    public static implicit operator TraceDetails(string? text) => text is null ? None : new(DigestOf(text), text);

    internal static TraceDetails FromParts(ulong digest, string? text) => new(digest, text);

    /// <summary>Digest of plain text (a string passed as the whole details).</summary>
    public static ulong DigestOf(string text) => TraceHasher.MixString(TraceHasher.OffsetBasis ^ 0x5EED, text);
}

/// <summary>
/// Interpolated-string handler for trace details: digests each literal part and value as it comes (numbers as
/// words, strings by their code units, with a tag per kind so parts cannot be confused) and formats the text,
/// invariant culture, only when the world has a sink attached.
/// </summary>
[InterpolatedStringHandler]
public ref struct TraceDetailsBuilder
{
    private const ulong LiteralTag = 0x4C49540000000000UL, StringTag = 0x5354520000000000UL, NumberTag = 0x4E554D0000000000UL;

    private ulong _digest;
    private DefaultInterpolatedStringHandler _text;
    private readonly bool _formatting;

    public TraceDetailsBuilder(int literalLength, int formattedCount, bool formatting)
    {
        _digest = TraceHasher.OffsetBasis ^ 0xDE7A;
        _formatting = formatting;
        _text = formatting ? new DefaultInterpolatedStringHandler(literalLength, formattedCount, CultureInfo.InvariantCulture) : default;
    }

    public TraceDetailsBuilder(int literalLength, int formattedCount, SimWorld world)
        : this(literalLength, formattedCount, world.Tracing)
    {
    }

    public void AppendLiteral(string s)
    {
        _digest = TraceHasher.MixString(TraceHasher.Mix(_digest, LiteralTag), s);
        if (_formatting) _text.AppendLiteral(s);
    }

    public void AppendFormatted(string? s)
    {
        _digest = TraceHasher.MixString(TraceHasher.Mix(_digest, StringTag), s ?? "");
        if (_formatting) _text.AppendFormatted(s);
    }

    public void AppendFormatted(long v)
    {
        _digest = TraceHasher.Mix(TraceHasher.Mix(_digest, NumberTag), (ulong)v);
        if (_formatting) _text.AppendFormatted(v);
    }

    public void AppendFormatted(int v) => AppendFormatted((long)v);

    public void AppendFormatted(short v) => AppendFormatted((long)v);

    public void AppendFormatted(TopicPartition tp)
    {
        _digest = TraceHasher.Mix(TraceHasher.MixString(TraceHasher.Mix(_digest, StringTag), tp.Topic), (ulong)tp.Partition);
        if (_formatting) _text.AppendFormatted(tp.ToString());
    }

    /// <summary>Enums by their value; anything else by its invariant text (formatted even without a sink: rare
    /// parts only).</summary>
    public void AppendFormatted<T>(T value)
    {
        if (typeof(T).IsEnum && Unsafe.SizeOf<T>() == 4)
        {
            _digest = TraceHasher.Mix(TraceHasher.Mix(_digest, NumberTag ^ 0xE), (ulong)Unsafe.As<T, int>(ref value));
            if (_formatting) _text.AppendFormatted(value);
            return;
        }
        AppendFormatted(Invariant(value, null));
    }

    public void AppendFormatted<T>(T value, string? format) => AppendFormatted(Invariant(value, format));

    private static string? Invariant<T>(T value, string? format)
        => value is IFormattable f ? f.ToString(format, CultureInfo.InvariantCulture) : value?.ToString();

    public TraceDetails Build()
        => TraceDetails.FromParts(_digest, _formatting ? _text.ToStringAndClear() : null);
}

/// <summary>Hands every record to several sinks in order (the replay writes JSON lines and feeds the timeline).</summary>
public sealed class TeeTraceSink(params ITraceSink[] sinks) : ITraceSink
{
    public void Write(in TraceRecord record)
    {
        foreach (var sink in sinks) sink.Write(record);
    }
}
