using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using Xunit;

namespace DetKafka.Properties.Quorum;

/// <summary>
/// Producer ids in a quorum (KIP-730; REPLICATION.md "Producer ids in a quorum"): an idempotent producer's
/// InitProducerId is served at every node, the controller taking blocks for itself and the others asking it with
/// AllocateProducerIds (API 67); no id is ever handed out twice, across block boundaries, a controller crash and a
/// restart (a restarted node takes a new block, never reusing its old one).
/// </summary>
public class ProducerIdQuorumTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>InitProducerId for an idempotent producer at <paramref name="node"/>, retried while the node waits for
    /// its block (COORDINATOR_LOAD_IN_PROGRESS) as a client does. -1 when none came.</summary>
    private static long InitProducerId(QuorumCluster c, int node, List<ErrorCode>? retried = null)
    {
        for (int attempt = 0; attempt < 200; attempt++)
        {
            var r = c.Ask<InitProducerIdResponse>(node, ApiKey.InitProducerId, 2, new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = -1 });
            if (r is { ErrorCode: ErrorCode.None })
            {
                Assert.Equal(0, r.ProducerEpoch);
                return r.ProducerId;
            }
            retried?.Add(r?.ErrorCode ?? ErrorCode.RequestTimedOut);
            c.RunFor(20);
        }
        return -1;
    }

    [Fact]
    public void Every_node_hands_out_producer_ids_and_none_twice_across_blocks_and_a_controller_crash()
    {
        var c = new QuorumCluster(3, seed: 7);
        Assert.True(c.Run(() => c.Controller() >= 0), "a controller is elected");
        var seen = new HashSet<long>();
        var retried = new List<ErrorCode>();
        void Take(int node, int count)
        {
            for (int k = 0; k < count; k++)
            {
                long id = InitProducerId(c, node, retried);
                Assert.True(id >= 0, $"node {node + 1} handed out no producer id ({string.Join(",", retried.TakeLast(5))}): {c.Describe()}");
                Assert.True(seen.Add(id), $"producer id {id} handed out twice (node {node + 1})");
            }
        }
        for (int i = 0; i < 3; i++) Take(i, 5);
        Assert.All(retried, e => Assert.Equal(ErrorCode.CoordinatorLoadInProgress, e));
        Assert.NotEmpty(retried);

        // Past the end of a block at a node that is not the controller: its next block comes from the controller.
        int follower = (c.Controller() + 1) % 3;
        Take(follower, 1_000);

        int controller = c.Controller();
        c.Crash(controller);
        Assert.True(c.Run(() => c.Controller() >= 0 && c.Controller() != controller), "a new controller is elected");
        for (int i = 0; i < 3; i++) if (i != controller) Take(i, 5);
        c.Start(controller);
        Take(controller, 5);
        Take(follower, 1_000);
        output.WriteLine($"{seen.Count} producer ids handed out over three nodes, none twice; {retried.Count} answers COORDINATOR_LOAD_IN_PROGRESS while a block was on its way");
    }

    [Fact]
    public void AllocateProducerIds_is_answered_by_the_controller_only_and_for_known_brokers()
    {
        var c = new QuorumCluster(3, seed: 3);
        Assert.True(c.Run(() => c.Controller() >= 0));
        int controller = c.Controller();
        var first = c.Ask<AllocateProducerIdsResponse>(controller, ApiKey.AllocateProducerIds, 0, new AllocateProducerIdsRequest { BrokerId = 2 })!;
        var second = c.Ask<AllocateProducerIdsResponse>(controller, ApiKey.AllocateProducerIds, 0, new AllocateProducerIdsRequest { BrokerId = 3 })!;
        Assert.Equal(ErrorCode.None, first.ErrorCode);
        Assert.Equal(ErrorCode.None, second.ErrorCode);
        Assert.Equal(1000, first.ProducerIdLen);
        Assert.True(second.ProducerIdStart >= first.ProducerIdStart + first.ProducerIdLen, "blocks never overlap");
        var elsewhere = c.Ask<AllocateProducerIdsResponse>((controller + 1) % 3, ApiKey.AllocateProducerIds, 0, new AllocateProducerIdsRequest { BrokerId = 2 })!;
        Assert.Equal(ErrorCode.NotController, elsewhere.ErrorCode);
        var stranger = c.Ask<AllocateProducerIdsResponse>(controller, ApiKey.AllocateProducerIds, 0, new AllocateProducerIdsRequest { BrokerId = 99 })!;
        Assert.Equal(ErrorCode.BrokerIdNotRegistered, stranger.ErrorCode);
    }
}
