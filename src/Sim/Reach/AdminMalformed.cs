using System.Buffers.Binary;
using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;

namespace DetKafka.Sim.Reach;

/// <summary>
/// Malformed input driven by the simulation (SIMULATION.md, "Raw requests and malformed input"), each on a fresh
/// raw connection: a frame cut short inside its body, a size prefix past socket.request.max.bytes or negative, an API
/// key the broker does not serve, a served API at a version it does not serve, a Produce whose record batch is
/// corrupt (a flipped bit under the CRC, a wrong batch length, a wrong record count or a cut batch with the CRC
/// recomputed), and garbage after a valid header. The broker must answer an error or close that connection
/// (model-malformed-answered when it must close and answers; model-malformed-accepted when a corrupt batch is
/// acknowledged); the queue workload's connections go on, and the history checker and the admin model judge that
/// nothing acknowledged was lost or invented.
/// </summary>
public sealed partial class AdminWorkload
{
    private static readonly ApiKey[] ReadOnlyKeys =
        [ApiKey.Metadata, ApiKey.ListOffsets, ApiKey.DescribeConfigs, ApiKey.DescribeGroups, ApiKey.ListGroups, ApiKey.DescribeCluster, ApiKey.Fetch];

    private string? Malformed(RawConnections raw, int node)
    {
        if (_host?.Client?.BrokerApiVersions(node) is not { } served) return null;
        int kind = _random.NextInt(0, 6);
        if (kind == 4) return CorruptProduce(raw, node);
        if (raw.Open() is not { } id) return null;
        int correlation = raw.NextCorrelationId();
        byte[] frame;
        string what;
        bool mustClose;
        switch (kind)
        {
            case 0:
            {
                // A valid Metadata request cut inside its body, the size prefix saying so: undecodable, or (cut at
                // an optional end) still a request.
                short v = DrawVersion(node, ApiKey.Metadata) ?? 1;
                var request = new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = "adm-0" }, new MetadataRequest.MetadataRequestTopic { Name = "jepsen" }] };
                var full = ClientCodec.EncodeRequest(ApiKey.Metadata, v, correlation, "adm-raw", request);
                int headerEnd = 4 + 2 + 2 + 4 + 2 + "adm-raw".Length;
                int cut = _random.NextInt(Math.Min(headerEnd + 1, full.Length - 1), full.Length);
                frame = full[..cut];
                BinaryPrimitives.WriteInt32BigEndian(frame, cut - 4);
                what = $"Metadata v{v} cut to {cut - 4} of {full.Length - 4} bytes";
                mustClose = false;
                break;
            }
            case 1:
            {
                frame = new byte[4 + _random.NextInt(0, 32)];
                int size = _random.NextBool(0.5) ? -_random.NextInt(1, 1000) : Frame.RequestBytesMaxDefault + 1 + _random.NextInt(0, 1 << 20);
                BinaryPrimitives.WriteInt32BigEndian(frame, size);
                what = $"a frame of size {size}";
                mustClose = true;
                break;
            }
            case 2:
            {
                short key;
                do key = (short)(_random.NextBool(0.5) ? _random.NextInt(0, 100) : _random.NextInt(1000, short.MaxValue + 1));
                while (served.ContainsKey((ApiKey)key));
                frame = Header((ApiKey)key, 0, correlation, _random.NextInt(0, 16));
                what = $"unserved API key {key}";
                mustClose = true;
                break;
            }
            case 3:
            {
                var keys = served.Keys.Where(k => k != ApiKey.ApiVersions).OrderBy(k => (short)k).ToList();
                var key = keys[_random.NextInt(0, keys.Count)];
                short version = (short)(served[key].Max + _random.NextInt(1, 20));
                frame = Header(key, version, correlation, _random.NextInt(0, 16));
                what = $"{key} at unserved version {version}";
                mustClose = true;
                break;
            }
            default:
            {
                var keys = ReadOnlyKeys.Where(served.ContainsKey).ToList();
                var key = keys[_random.NextInt(0, keys.Count)];
                short version = (short)_random.NextInt(served[key].Min, served[key].Max + 1);
                frame = Header(key, version, correlation, _random.NextInt(1, 64));
                what = $"{key} v{version} header followed by garbage";
                mustClose = false;
                break;
            }
        }
        // What an answer would be decoded as: only framing and the correlation id are judged for these.
        var decodeKey = (ApiKey)BinaryPrimitives.ReadInt16BigEndian(frame.AsSpan(Math.Min(4, frame.Length - 2)));
        raw.SendBytes(id, frame, correlation, served.ContainsKey(decodeKey) ? decodeKey : ApiKey.ApiVersions,
            frame.Length >= 8 ? BinaryPrimitives.ReadInt16BigEndian(frame.AsSpan(6)) : (short)0, o =>
        {
            raw.Close(id);
            Model.Count("malformed." + o.Status.ToString().ToLowerInvariant());
            if (mustClose && o.Status is RawStatus.Answered or RawStatus.Undecodable or RawStatus.WrongCorrelation)
                Model.Violation("model-malformed-answered", $"{what} was answered ({o.Status}{(o.Detail is null ? "" : ": " + o.Detail)}); the broker must close the connection");
            else if (o.Status is RawStatus.WrongCorrelation) Judge(o, what);
        });
        return "raw malformed: " + what;
    }

    /// <summary>A request header (v1: key, version, correlation id, client id) followed by <paramref name="garbage"/>
    /// random bytes, size-prefixed.</summary>
    private byte[] Header(ApiKey key, short version, int correlation, int garbage)
    {
        var clientId = Encoding.UTF8.GetBytes("adm-raw");
        var frame = new byte[4 + 2 + 2 + 4 + 2 + clientId.Length + garbage];
        BinaryPrimitives.WriteInt32BigEndian(frame, frame.Length - 4);
        BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(4), (short)key);
        BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(6), version);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(8), correlation);
        BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(12), (short)clientId.Length);
        clientId.CopyTo(frame.AsSpan(14));
        for (int i = 14 + clientId.Length; i < frame.Length; i++) frame[i] = (byte)_random.NextInt(0, 256);
        return frame;
    }

    /// <summary>A Produce to an admin partition whose batch is corrupt: the answer must be an error for the partition
    /// (CORRUPT_MESSAGE, INVALID_RECORD) or a closed connection, never an acknowledgement.</summary>
    private string? CorruptProduce(RawConnections raw, int node)
    {
        if (PickPartition() is not var (t, p) || raw.Open() is not { } id) return null;
        short v = Math.Max((short)3, DrawVersion(node, ApiKey.Produce) ?? 3);
        long ts = _host!.Clock.WallClockMs;
        var records = Enumerable.Range(0, _random.NextInt(1, 4))
            .Select(i => new SimpleRecord(Encoding.UTF8.GetBytes("adm"), BitConverter.GetBytes(-1L - i), ts)).ToList();
        var batch = RecordBatchBuilder.Build(records);
        string how;
        switch (_random.NextInt(0, 4))
        {
            case 0:
            {
                // A flipped bit anywhere the CRC covers (or in the CRC itself).
                int at = _random.NextInt(RecordBatch.CrcOffset, batch.Length);
                batch[at] ^= (byte)(1 << _random.NextInt(0, 8));
                how = $"a bit flipped at byte {at}";
                break;
            }
            case 1:
            {
                int length = BinaryPrimitives.ReadInt32BigEndian(batch.AsSpan(RecordBatch.BatchLengthOffset));
                int wrong = length + (_random.NextBool(0.5) ? _random.NextInt(1, 64) : -_random.NextInt(1, Math.Max(2, length)));
                BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.BatchLengthOffset), wrong);
                how = $"batch length {wrong} instead of {length}";
                break;
            }
            case 2:
            {
                int count = records.Count + (_random.NextBool(0.5) ? 1 : -1) * _random.NextInt(1, 3);
                BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.RecordsCountOffset), count);
                RecordBatch.WriteCrc(batch);
                how = $"record count {count} for {records.Count} records (CRC recomputed)";
                break;
            }
            default:
            {
                int cut = _random.NextInt(1, Math.Max(2, batch.Length - RecordBatch.RecordsOffset));
                batch = batch[..(batch.Length - cut)];
                BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.BatchLengthOffset), batch.Length - RecordBatch.LogOverhead);
                RecordBatch.WriteCrc(batch);
                how = $"the last {cut} bytes of the records cut (length and CRC recomputed)";
                break;
            }
        }
        var request = new ProduceRequest { Acks = -1, TimeoutMs = 5_000 };
        request.TopicData.Add(new ProduceRequest.TopicProduceData { Name = t.Name });
        request.TopicData[0].PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = p.Index, Records = batch });
        var finish = DataOp(t);
        raw.Request(id, ApiKey.Produce, v, request, o => finish(() =>
        {
            raw.Close(id);
            if (Judge(o, $"corrupt Produce v{v}") is not ProduceResponse r) return;
            Model.Count("malformed.corrupt-batch");
            var x = r.Responses.FirstOrDefault()?.PartitionResponses.FirstOrDefault();
            if (x is not null && x.ErrorCode == ErrorCode.None)
                Model.Violation("model-malformed-accepted", $"Produce v{v} to {t.Name}-{p.Index} of a corrupt batch ({how}) was acknowledged at offset {x.BaseOffset}");
        }));
        return $"raw corrupt produce {t.Name}-{p.Index}: {how}";
    }
}
