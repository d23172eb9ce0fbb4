using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Properties.Broker;
using Xunit;

namespace DetKafka.Properties.Groups;

/// <summary>
/// Random interleavings of three members' group requests, time passing and crashes, against the coordinator
/// through real frames. Every request is answered with an error code its API allows, the Core assertions (the
/// state machine's transition table among them) never fire, the generation never goes backwards while the node
/// runs, and an acknowledged commit is never lost or overtaken by an older one, across crashes too.
/// </summary>
public sealed class GroupCoordinatorPropertyTests
{
    private static readonly HashSet<ErrorCode> JoinErrors =
        [ErrorCode.None, ErrorCode.MemberIdRequired, ErrorCode.UnknownMemberId, ErrorCode.RebalanceInProgress, ErrorCode.FencedInstanceId, ErrorCode.CoordinatorNotAvailable];
    private static readonly HashSet<ErrorCode> MemberErrors =
        [ErrorCode.None, ErrorCode.UnknownMemberId, ErrorCode.IllegalGeneration, ErrorCode.RebalanceInProgress, ErrorCode.FencedInstanceId, ErrorCode.CoordinatorNotAvailable];

    private sealed class Member(int index)
    {
        public readonly int Index = index;
        public readonly ConnectionId[] Connection = new ConnectionId[1];
        public string MemberId = "";
        public int Generation = -1;
        public bool Leader;
        public List<string> Members = [];
        public string? Instance => Index == 2 ? "static-2" : null; // one static member
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_member_behaviour_keeps_the_coordinator_consistent(int seed)
    {
        var random = new Random(seed);
        var h = new BrokerHarness(new BrokerConfig { NodeId = 1, DataDirectory = "data", OffsetsTopicNumPartitions = 3, GroupInitialRebalanceDelayMs = random.Next(0, 2) * 500 }, (ulong)seed);
        Assert.Equal(ErrorCode.None, h.Node.CreateTopic("t", 2, [], validateOnly: false, out _).Error);
        var members = Enumerable.Range(0, 3).Select(i => new Member(i)).ToArray();
        foreach (var m in members) m.Connection[0] = h.Connect();
        long nextOffset = 1;
        var acked = new long[2];
        int lastGeneration = 0;

        for (int step = 0; step < 60; step++)
        {
            var m = members[random.Next(members.Length)];
            var c = m.Connection[0];
            switch (random.Next(8))
            {
                case 0 or 1:
                {
                    // Responses may wait for the join phase; Send, then let time pass until it is answered.
                    h.Send(c, ApiKey.JoinGroup, 5, new JoinGroupRequest
                    {
                        GroupId = "g", MemberId = m.MemberId, GroupInstanceId = m.Instance, SessionTimeoutMs = 6_000, RebalanceTimeoutMs = 8_000,
                        ProtocolType = "consumer", Protocols = [new() { Name = "range", Metadata = new byte[] { 1 } }],
                    });
                    JoinGroupResponse? r = null;
                    for (int round = 0; round < 40 && r is null; round++)
                    {
                        var got = h.Responses<JoinGroupResponse>(c, ApiKey.JoinGroup, 5);
                        if (got.Count > 0) r = got[^1].Body;
                        else if (h.CompleteSyncs() == 0) h.AdvanceTime(500);
                    }
                    Assert.NotNull(r);
                    Assert.Contains(r!.ErrorCode, JoinErrors);
                    if (r.ErrorCode is ErrorCode.None or ErrorCode.MemberIdRequired) m.MemberId = r.MemberId;
                    if (r.ErrorCode is ErrorCode.UnknownMemberId or ErrorCode.FencedInstanceId) m.MemberId = "";
                    if (r.ErrorCode == ErrorCode.None)
                    {
                        m.Generation = r.GenerationId;
                        m.Leader = r.Leader == r.MemberId;
                        m.Members = r.Members.Select(x => x.MemberId).ToList();
                    }
                    // Other members' joins answered meanwhile are drained here (their connections, their replies).
                    foreach (var other in members.Where(o => o != m))
                        foreach (var (_, body) in h.Responses<JoinGroupResponse>(other.Connection[0], ApiKey.JoinGroup, 5))
                            if (body.ErrorCode == ErrorCode.None) (other.MemberId, other.Generation, other.Leader) = (body.MemberId, body.GenerationId, body.Leader == body.MemberId);
                    break;
                }
                case 2:
                {
                    var sync = new SyncGroupRequest { GroupId = "g", GenerationId = m.Generation, MemberId = m.MemberId, GroupInstanceId = m.Instance };
                    if (m.Leader) foreach (var id in m.Members) sync.Assignments.Add(new() { MemberId = id, Assignment = new byte[] { (byte)m.Generation } });
                    h.Send(c, ApiKey.SyncGroup, 3, sync);
                    for (int round = 0; round < 5; round++) if (h.CompleteSyncs() == 0) h.AdvanceTime(10);
                    foreach (var (_, body) in h.Responses<SyncGroupResponse>(c, ApiKey.SyncGroup, 3)) Assert.Contains(body.ErrorCode, MemberErrors);
                    break;
                }
                case 3:
                {
                    var r = h.Call<HeartbeatResponse>(c, ApiKey.Heartbeat, 3, new HeartbeatRequest { GroupId = "g", GenerationId = m.Generation, MemberId = m.MemberId, GroupInstanceId = m.Instance });
                    Assert.Contains(r.ErrorCode, MemberErrors);
                    break;
                }
                case 4:
                {
                    int p = random.Next(2);
                    long offset = nextOffset++;
                    var r = h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 7, new OffsetCommitRequest
                    {
                        GroupId = "g", GenerationId = m.Generation, MemberId = m.MemberId, GroupInstanceId = m.Instance,
                        Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = p, CommittedOffset = offset }] }],
                    });
                    var error = r.Topics[0].Partitions[0].ErrorCode;
                    Assert.Contains(error, MemberErrors);
                    if (error == ErrorCode.None) acked[p] = offset;
                    break;
                }
                case 5:
                {
                    var r = h.Call<LeaveGroupResponse>(c, ApiKey.LeaveGroup, 3, new LeaveGroupRequest { GroupId = "g", Members = [new() { MemberId = m.MemberId, GroupInstanceId = m.Instance }] });
                    Assert.Contains(r.ErrorCode == ErrorCode.None && r.Members.Count == 1 ? r.Members[0].ErrorCode : r.ErrorCode, MemberErrors);
                    m.MemberId = "";
                    break;
                }
                case 6:
                    h.AdvanceTime(random.Next(0, 9_000));
                    break;
                default:
                    if (random.Next(4) == 0)
                    {
                        h.CrashAndRestart();
                        foreach (var x in members) x.Connection[0] = h.Connect();
                        lastGeneration = 0; // an unsynced generation record may be lost with the crash
                    }
                    else h.CompleteSyncs();
                    break;
            }
            var group = h.Node.Groups.FindGroup("g");
            if (group is not null)
            {
                Assert.True(group.GenerationId >= lastGeneration, $"seed {seed} step {step}: generation went from {lastGeneration} to {group.GenerationId}");
                lastGeneration = group.GenerationId;
                Assert.True(group.Members.Select(x => x.MemberId).Distinct().Count() == group.Members.Count, "member ids unique");
                if (group.State == GroupState.Empty) Assert.Empty(group.Members);
            }
            for (int p = 0; p < 2; p++)
            {
                if (acked[p] == 0) continue;
                long committed = group?.Offsets.GetValueOrDefault(new Core.Protocol.TopicPartition("t", p))?.Offset ?? -1;
                Assert.True(committed >= acked[p], $"seed {seed} step {step}: partition {p} committed {committed} below the acknowledged {acked[p]}");
            }
        }
    }

    public static IEnumerable<object[]> Seeds() => Enumerable.Range(1, 40).Select(s => new object[] { s });
}
