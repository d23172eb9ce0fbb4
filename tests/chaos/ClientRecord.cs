using System.Text.Json;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>A record as a client reported it: acknowledged by a producer or read by a consumer.</summary>
public sealed record ClientRecord(int Partition, long Offset, string? Key, string? Value, long Timestamp = -1)
{
    public static ClientRecord FromJson(JsonElement e) => new(
        e.GetProperty("partition").GetInt32(),
        e.GetProperty("offset").GetInt64(),
        e.TryGetProperty("key", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null,
        e.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null,
        e.TryGetProperty("timestamp", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetInt64() : -1);

    /// <summary>The records of an acknowledgement file a streaming producer appends to (ck_stream_produce.py), read
    /// while it may still be writing: a half-written last line is left for the next read.</summary>
    public static List<ClientRecord> ReadAckFile(string path)
    {
        if (!File.Exists(path)) return [];
        // One read of everything there now, then only the lines a newline ends: reading line by line while the
        // producer appends can return the first half of a line at one read and its second half at the next.
        string text;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        using (var reader = new StreamReader(fs))
            text = reader.ReadToEnd();
        int complete = text.LastIndexOf('\n');
        var list = new List<ClientRecord>();
        if (complete < 0) return list;
        foreach (var line in text[..complete].Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            list.Add(FromJson(doc.RootElement));
        }
        return list;
    }

    /// <summary>The JSON lines of a client run whose "type" is <paramref name="type"/>, as records.</summary>
    public static List<ClientRecord> OfType(CommandResult r, string type) =>
        r.JsonLines()
            .Where(e => e.TryGetProperty("type", out var t) && t.GetString() == type)
            .Select(FromJson)
            .ToList();
}

public static class LogAssert
{
    /// <summary>Each partition's records, as a consumer read them, sit at offsets 0..n-1 with no gap or repeat
    /// (no retention or compaction runs in these tests, so the log starts at 0).</summary>
    public static Dictionary<int, List<ClientRecord>> ContiguousFromZero(IEnumerable<ClientRecord> consumed)
    {
        var byPartition = consumed.GroupBy(r => r.Partition).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var (partition, records) in byPartition)
        {
            for (int i = 0; i < records.Count; i++)
            {
                if (records[i].Offset != i)
                    Assert.Fail($"partition {partition}: record #{i} read at offset {records[i].Offset}, expected {i} " +
                                $"(offsets must be contiguous from 0, in order); neighbours: " +
                                string.Join(", ", records.Skip(Math.Max(0, i - 2)).Take(5).Select(r => $"{r.Offset}:{r.Value}")));
            }
        }
        return byPartition;
    }

    /// <summary>Every acknowledged record is in the consumed log at its acknowledged partition and offset, with its
    /// key and value.</summary>
    public static void AcknowledgedArePresent(IEnumerable<ClientRecord> acked, IEnumerable<ClientRecord> consumed)
    {
        var at = consumed.ToDictionary(r => (r.Partition, r.Offset));
        foreach (ClientRecord a in acked)
        {
            Assert.True(at.TryGetValue((a.Partition, a.Offset), out var c),
                $"acknowledged record {a.Value} at partition {a.Partition} offset {a.Offset} is missing from the log");
            Assert.True(c!.Value == a.Value && c.Key == a.Key,
                $"partition {a.Partition} offset {a.Offset}: acknowledged {a.Key}={a.Value}, log holds {c.Key}={c.Value}");
        }
    }

    /// <summary>The number after the last '-' in a value such as "prefix-17".</summary>
    public static long Sequence(string? value)
    {
        Assert.NotNull(value);
        int dash = value!.LastIndexOf('-');
        long n = -1;
        bool ok = dash >= 0 && long.TryParse(value.AsSpan(dash + 1), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out n);
        Assert.True(ok, $"value '{value}' carries no sequence number");
        return n;
    }
}
