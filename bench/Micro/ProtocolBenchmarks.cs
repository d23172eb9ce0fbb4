using BenchmarkDotNet.Attributes;
using DetKafka.Bench.Infrastructure;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Bench.Micro;

/// <summary>The codec alone: decoding a Produce request (header and body, records left as a slice), once into
/// new objects (the public <c>Read</c>) and once as the broker does (into a reused instance, strings through
/// its cache), and encoding a Fetch response that carries ~1 MiB of record batches into a reused writer.</summary>
[MemoryDiagnoser]
public class ProtocolBenchmarks
{
    private ArraySegment<byte> _producePayload;
    private FetchResponse _fetchResponse = null!;
    private KafkaWriter _writer = null!;
    private readonly ProduceRequest _reused = new();
    private readonly Utf8StringCache _strings = new();

    [GlobalSetup]
    public void Setup()
    {
        byte[] frame = Payloads.Frame(ApiKey.Produce, Payloads.ProduceVersion, Payloads.Produce(Payloads.Batch16K()));
        _producePayload = new ArraySegment<byte>(frame, Frame.SizePrefixBytes, frame.Length - Frame.SizePrefixBytes);
        _fetchResponse = new FetchResponse
        {
            Responses =
            {
                new FetchResponse.FetchableTopicResponse
                {
                    Topic = Payloads.Topic,
                    Partitions =
                    {
                        new FetchResponse.PartitionData
                        {
                            PartitionIndex = 0, HighWatermark = 1_000, LastStableOffset = 1_000, LogStartOffset = 0,
                            AbortedTransactions = new(), Records = Payloads.Records1M(),
                        },
                    },
                },
            },
        };
        _writer = new KafkaWriter(2 * Payloads.FetchResponseBytes);
    }

    [GlobalCleanup]
    public void Cleanup() => _writer.Dispose();

    [Benchmark, Processes(Work.Batch16K)]
    public int DecodeProduceRequest()
    {
        var reader = new KafkaReader(_producePayload);
        if (!RequestHeader.TryRead(ref reader, out var header)) throw new InvalidOperationException("bad header");
        var request = ProduceRequest.Read(ref reader, header.ApiVersion);
        return request.TopicData[0].PartitionData[0].Records!.Value.Length;
    }

    [Benchmark, Processes(Work.Batch16K)]
    public int DecodeProduceRequest_Reused()
    {
        var reader = new KafkaReader(_producePayload) { Strings = _strings };
        if (!RequestHeader.TryRead(ref reader, out var header)) throw new InvalidOperationException("bad header");
        _reused.ReadFrom(ref reader, header.ApiVersion);
        return _reused.TopicData[0].PartitionData[0].Records!.Value.Length;
    }

    [Benchmark, Processes(Work.Records1M)]
    public int EncodeFetchResponse()
    {
        var w = _writer;
        w.Reset();
        int sizeAt = w.ReserveInt32();
        ResponseHeader.Write(w, 1, RequestHeader.ResponseHeaderVersion(ApiKey.Fetch, Payloads.FetchVersion));
        _fetchResponse.Write(w, Payloads.FetchVersion);
        w.PatchInt32(sizeAt, w.Position - Frame.SizePrefixBytes);
        return w.Position;
    }
}
