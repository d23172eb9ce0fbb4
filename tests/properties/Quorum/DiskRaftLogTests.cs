using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Raft;
using Xunit;

namespace DetKafka.Properties.Quorum;

public class DiskRaftLogWireTests
{
    [Fact]
    public void Entries_survive_a_fetch_answer_on_the_wire()
    {
        var run = new RaftEntries([new RaftEntry(0, 1, true, [0, 0, 0, 1]), new RaftEntry(1, 1, false, [1, 2, 3])]);
        var m = new FetchResponseMessage<RaftEntries>(ErrorCode.None, 1, 1, 0, 0, null, null, run) { Source = 1, Destination = 3, CorrelationId = 7 };
        var wire = RaftWire.ToWire(m, RaftWire.MetadataTopic, 0, DiskRaftLog.Encode);
        var w = new KafkaWriter();
        w.WriteInt32(0);
        w.WriteInt32(7); // correlation id
        w.WriteEmptyTaggedFields(); // flexible header tags
        wire.Write(w, 12);
        var bytes = w.ToArray()[4..];
        var decoded = (FetchResponse)ClientCodec.DecodeResponse(ApiKey.Fetch, 12, new ArraySegment<byte>(bytes), out _);
        var back = RaftWire.FromWire(decoded, 1, 3, 7, DiskRaftLog.Decode);
        Assert.Equal(2, back.Records!.Entries.Count);
        Assert.Equal(run.Entries[1].Payload, back.Records.Entries[1].Payload);
    }
}
