using System.Text;

namespace DetKafka.Core.Protocol;

/// <summary>
/// Strings decoded from requests, remembered by their UTF-8 bytes: a client names the same topics and sends
/// the same client id on every request, and with the cache each of them decodes to the string it decoded to
/// last time instead of a new one. Direct-mapped (one entry per hash slot, a miss replaces the slot), so it
/// needs no eviction policy and stays bounded: <see cref="SlotCount"/> entries of at most
/// <see cref="EntryBytesMax"/> bytes. The hash is FNV-1a, the same in every process; a hostile client can
/// only make lookups miss, which costs what decoding without a cache costs.
/// </summary>
public sealed class Utf8StringCache
{
    public const int SlotCount = 1024;

    /// <summary>Longer strings are decoded every time (Kafka's topic names are at most 249 bytes).</summary>
    public const int EntryBytesMax = 256;

    private readonly byte[]?[] _keys = new byte[SlotCount][];
    private readonly string?[] _values = new string[SlotCount];

    /// <summary>Exactly <c>Encoding.UTF8.GetString(utf8)</c>, without allocating when the bytes were seen last time.</summary>
    public string GetOrAdd(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length == 0) return string.Empty;
        if (utf8.Length > EntryBytesMax) return Encoding.UTF8.GetString(utf8);
        int slot = (int)(Fnv1a(utf8) & (SlotCount - 1));
        if (_keys[slot] is { } key && utf8.SequenceEqual(key)) return _values[slot]!;
        string value = Encoding.UTF8.GetString(utf8);
        _keys[slot] = utf8.ToArray();
        _values[slot] = value;
        return value;
    }

    private static ulong Fnv1a(ReadOnlySpan<byte> bytes)
    {
        ulong hash = 0xcbf29ce484222325UL;
        foreach (byte b in bytes) hash = (hash ^ b) * 0x100000001b3UL;
        return hash ^ (hash >> 32);
    }
}
