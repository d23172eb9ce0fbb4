using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Raft;
using DetKafka.Sim.Raft;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Raft;

/// <summary>What the Raft core sends survives Kafka's wire encoding: every message of a simulated run is mapped to the
/// generated classes (RaftWire), encoded at every version of its API, decoded and mapped back, and must come back
/// equal, except for what a version cannot carry (said per case).</summary>
public sealed class RaftWireTests
{
    private const string Topic = RaftWire.MetadataTopic;

    private static T Through<T>(IKafkaMessage message, ApiKey key, short version, bool isRequest) where T : IKafkaMessage
        => (T)Decode(key, version, Encode(message, version), isRequest);

    private static List<RaftMessage> MessagesOfARun()
    {
        // What the replicas really send in a few simulated runs (every kind of message, errors and diverging answers
        // included), plus built ones for the corners a short run may not reach (snapshot ids, v0 successors).
        var sent = new List<RaftMessage>();
        for (ulong seed = 1; seed <= 3; seed++)
        {
            var sim = new RaftSimulation(seed, RaftSimOptions.Draw(seed));
            sim.OnSend = m => { if (sent.Count < 20_000) sent.Add(m); };
            sim.Run();
        }
        var dir = Guid.Parse("6d1f9a7e-3c1b-4e8a-9f00-1234567890ab");
        var other = Guid.Parse("0b8c2d4e-5f60-4718-8a9b-0c1d2e3f4a5b");
        var rnd = new SeededRandom(42);
        for (int i = 0; i < 200; i++)
        {
            int src = 1 + (int)rnd.NextBelow(5), dst = 1 + (int)rnd.NextBelow(5), corr = (int)rnd.NextBelow(100000);
            int epoch = (int)rnd.NextBelow(50);
            long offset = (long)rnd.NextBelow(1_000_000);
            RaftMessage m = (i % 8) switch
            {
                0 => new VoteRequestMessage(epoch + 1, new ReplicaKey(src, dir), other, epoch, offset, rnd.NextBool(0.5)),
                1 => new VoteResponseMessage(rnd.NextBool(0.3) ? ErrorCode.FencedLeaderEpoch : ErrorCode.None, (int)rnd.NextBelow(6) - 1, epoch, rnd.NextBool(0.5)),
                2 => new BeginQuorumEpochRequestMessage(src, epoch, other),
                3 => new BeginQuorumEpochResponseMessage(ErrorCode.None, src, epoch),
                4 => new EndQuorumEpochRequestMessage(src, epoch, [new ReplicaKey(2, dir), new ReplicaKey(3, other)]),
                5 => new EndQuorumEpochResponseMessage(ErrorCode.InvalidVoterKey, -1, epoch),
                6 => new FetchRequestMessage(new ReplicaKey(src, Guid.Empty), epoch, offset, epoch - 1, 300),
                _ => new FetchResponseMessage<SimBatch>(ErrorCode.None, src, epoch, offset, offset / 2,
                    rnd.NextBool(0.3) ? new OffsetAndEpoch(offset / 3, epoch - 1) : null, rnd.NextBool(0.2) ? new OffsetAndEpoch(offset / 2, epoch - 2) : null,
                    rnd.NextBool(0.5) ? new SimBatch(offset, [new SimEntry(epoch, 7, false)]) : null),
            };
            sent.Add(m with { Source = src, Destination = dst, CorrelationId = corr });
        }
        return sent;
    }

    // SimBatch as bytes for the Records field: base offset, then (epoch, value, control) per entry.
    private static ReadOnlyMemory<byte> ToBytes(SimBatch b)
    {
        var w = new byte[8 + b.Entries.Length * 13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(w, b.BaseOffset);
        for (int i = 0; i < b.Entries.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(w.AsSpan(8 + i * 13), b.Entries[i].Epoch);
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(w.AsSpan(12 + i * 13), b.Entries[i].Value);
            w[20 + i * 13] = b.Entries[i].Control ? (byte)1 : (byte)0;
        }
        return w;
    }

    private static SimBatch FromBytes(ReadOnlyMemory<byte> m)
    {
        var s = m.Span;
        int n = (s.Length - 8) / 13;
        var entries = new SimEntry[n];
        for (int i = 0; i < n; i++)
            entries[i] = new SimEntry(System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(s[(8 + i * 13)..]),
                System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(s[(12 + i * 13)..]), s[20 + i * 13] == 1);
        return new SimBatch(System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(s), entries);
    }

    [Fact]
    public void Every_message_round_trips_at_every_version()
    {
        int checkedCount = 0;
        foreach (var m in MessagesOfARun())
        {
            switch (m)
            {
                case VoteRequestMessage v:
                    foreach (short ver in Versions(ApiKey.Vote))
                    {
                        var back = RaftWire.FromWire(Through<VoteRequest>(RaftWire.ToWire(v, Topic, 0, "c"), ApiKey.Vote, ver, true), v.Source, v.Destination, v.CorrelationId);
                        var expected = v;
                        if (ver < 1) expected = expected with { Candidate = v.Candidate with { DirectoryId = Guid.Empty }, VoterDirectoryId = Guid.Empty };
                        if (ver < 2) expected = expected with { PreVote = false };
                        Assert.Equal(expected, back);
                        checkedCount++;
                    }
                    break;
                case VoteResponseMessage v:
                    foreach (short ver in Versions(ApiKey.Vote))
                        Assert.Equal(v, RaftWire.FromWire(Through<VoteResponse>(RaftWire.ToWire(v, Topic, 0), ApiKey.Vote, ver, false), v.Source, v.Destination, v.CorrelationId));
                    break;
                case BeginQuorumEpochRequestMessage b:
                    foreach (short ver in Versions(ApiKey.BeginQuorumEpoch))
                    {
                        var back = RaftWire.FromWire(Through<BeginQuorumEpochRequest>(RaftWire.ToWire(b, Topic, 0, "c"), ApiKey.BeginQuorumEpoch, ver, true), b.Source, b.Destination, b.CorrelationId);
                        Assert.Equal(ver < 1 ? b with { VoterDirectoryId = Guid.Empty } : b, back);
                    }
                    break;
                case BeginQuorumEpochResponseMessage b:
                    foreach (short ver in Versions(ApiKey.BeginQuorumEpoch))
                        Assert.Equal(b, RaftWire.FromWire(Through<BeginQuorumEpochResponse>(RaftWire.ToWire(b, Topic, 0), ApiKey.BeginQuorumEpoch, ver, false), b.Source, b.Destination, b.CorrelationId));
                    break;
                case EndQuorumEpochRequestMessage e:
                    foreach (short ver in Versions(ApiKey.EndQuorumEpoch))
                    {
                        var back = RaftWire.FromWire(Through<EndQuorumEpochRequest>(RaftWire.ToWire(e, Topic, 0, "c"), ApiKey.EndQuorumEpoch, ver, true), e.Source, e.Destination, e.CorrelationId);
                        var keys = ver < 1 ? e.PreferredCandidates.Select(k => k with { DirectoryId = Guid.Empty }).ToList() : e.PreferredCandidates.ToList();
                        Assert.Equal((e.LeaderId, e.LeaderEpoch, e.Source, e.Destination, e.CorrelationId), (back.LeaderId, back.LeaderEpoch, back.Source, back.Destination, back.CorrelationId));
                        Assert.Equal(keys, back.PreferredCandidates);
                    }
                    break;
                case EndQuorumEpochResponseMessage e:
                    foreach (short ver in Versions(ApiKey.EndQuorumEpoch))
                        Assert.Equal(e, RaftWire.FromWire(Through<EndQuorumEpochResponse>(RaftWire.ToWire(e, Topic, 0), ApiKey.EndQuorumEpoch, ver, false), e.Source, e.Destination, e.CorrelationId));
                    break;
                case FetchRequestMessage f:
                {
                    // Fetch v12: the version that carries LastFetchedEpoch (the Fetch spec's newest).
                    var back = RaftWire.FromWire(Through<FetchRequest>(RaftWire.ToWire(f, Topic, 0, "c", 1 << 20), ApiKey.Fetch, 12, true), f.Replica.DirectoryId, f.Destination, f.CorrelationId);
                    Assert.Equal(f, back);
                    break;
                }
                case FetchResponseMessage<SimBatch> f:
                {
                    var back = RaftWire.FromWire(Through<FetchResponse>(RaftWire.ToWire(f, Topic, 0, ToBytes), ApiKey.Fetch, 12, false), f.Source, f.Destination, f.CorrelationId, FromBytes);
                    Assert.Equal((f.Error, f.LeaderId, f.LeaderEpoch, f.HighWatermark, f.LogStartOffset, f.DivergingEpoch, f.SnapshotId),
                        (back.Error, back.LeaderId, back.LeaderEpoch, back.HighWatermark, back.LogStartOffset, back.DivergingEpoch, back.SnapshotId));
                    Assert.Equal(f.Records?.Entries, back.Records?.Entries);
                    Assert.Equal(f.Records?.BaseOffset, back.Records?.BaseOffset);
                    break;
                }
            }
        }
        Assert.True(checkedCount > 50);
    }

    [Fact]
    public void The_new_specs_cover_kafkas_version_ranges()
    {
        Assert.Equal((0, 2), (VoteRequest.LowestSupportedVersion, VoteRequest.HighestSupportedVersion));
        Assert.Equal((0, 1), (BeginQuorumEpochRequest.LowestSupportedVersion, BeginQuorumEpochRequest.HighestSupportedVersion));
        Assert.Equal((0, 1), (EndQuorumEpochRequest.LowestSupportedVersion, EndQuorumEpochRequest.HighestSupportedVersion));
        Assert.Equal((0, 2), (DescribeQuorumRequest.LowestSupportedVersion, DescribeQuorumRequest.HighestSupportedVersion));
        Assert.Equal(0, VoteRequest.FirstFlexibleVersion);
        Assert.Equal(1, BeginQuorumEpochRequest.FirstFlexibleVersion);
        Assert.Equal(1, EndQuorumEpochRequest.FirstFlexibleVersion);
        Assert.Equal(0, DescribeQuorumRequest.FirstFlexibleVersion);
    }

    [Fact]
    public void A_message_for_several_partitions_is_bad_input()
    {
        var r = new VoteRequest { Topics = [new VoteRequest.VoteTopic { TopicName = Topic, Partitions = [new(), new()] }] };
        Assert.Throws<ProtocolException>(() => RaftWire.FromWire(r, 1, 2, 3));
    }
}
