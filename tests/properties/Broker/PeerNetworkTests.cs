using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Broker;

/// <summary>
/// The node network in both directions (issue 16): a broker opens an outbound connection through its own
/// <see cref="INetwork"/>, learns the outcome as an input (OnConnected / OnConnectFailed), and talks to a peer
/// through the project's KafkaClient framer and codec. Two nodes wired back to back through a queue.
/// </summary>
public class PeerNetworkTests
{
    private sealed class World
    {
        private readonly Queue<Action> _pending = new();
        private readonly Dictionary<long, (int Initiator, int Acceptor)> _links = new();
        private long _nextId = 1;

        public World()
        {
            for (int i = 0; i < 2; i++)
            {
                var config = new BrokerConfig { NodeId = i + 1, AdvertisedHost = "n" + (i + 1), AdvertisedPort = 9092, DataDirectory = "data" };
                Nodes[i] = new BrokerNode(config, Clock, new SimDisk(), new Net(this, i), new SeededRandom((ulong)i + 7), NullBrokerLog.Instance);
                Nodes[i].Start();
            }
        }

        public ManualClock Clock { get; } = new();
        public BrokerNode[] Nodes { get; } = new BrokerNode[2];
        public int Closes { get; private set; }

        private sealed class Net(World world, int self) : INetwork
        {
            public void Send(ConnectionId connection, ReadOnlySpan<byte> bytes)
            {
                var copy = bytes.ToArray();
                var other = world.Other(connection, self);
                world._pending.Enqueue(() => world.Nodes[other].OnReceive(connection, copy));
            }

            public void Close(ConnectionId connection)
            {
                world.Closes++;
                var other = world.Other(connection, self);
                world._pending.Enqueue(() => world.Nodes[other].OnConnectionClosed(connection));
            }

            public void SetReceiveEnabled(ConnectionId connection, bool enabled) { }

            public ConnectionId Connect(string host, int port)
            {
                var id = new ConnectionId(world._nextId++);
                int target = Array.FindIndex(world.Nodes, n => n.Config.AdvertisedHost == host && n.Config.AdvertisedPort == port);
                if (target < 0)
                {
                    world._pending.Enqueue(() => world.Nodes[self].OnConnectFailed(id));
                    return id;
                }
                world._links.Add(id.Value, (self, target));
                world._pending.Enqueue(() =>
                {
                    world.Nodes[target].OnConnectionOpened(id);
                    world.Nodes[self].OnConnected(id);
                });
                return id;
            }
        }

        private int Other(ConnectionId id, int self)
        {
            var (a, b) = _links[id.Value];
            return a == self ? b : a;
        }

        public void Run(Func<bool> until, int rounds = 2000)
        {
            for (int round = 0; round < rounds && !until(); round++)
            {
                while (_pending.Count > 0) _pending.Dequeue()();
                Clock.Advance(1);
                foreach (var n in Nodes)
                    if (n.NextDeadlineMs <= Clock.MonotonicMs) n.Poll();
            }
            Assert.True(until(), "the condition was not reached");
        }
    }

    [Fact]
    public void A_broker_asks_a_peer_through_the_client_layer_over_its_own_network()
    {
        var w = new World();
        var b = w.Nodes[1];
        Assert.Equal(ErrorCode.None, b.CreateTopic("t", 2, [], validateOnly: false, out _).Error);
        var peer = w.Nodes[0].StartPeerClient(new KafkaClientOptions { BootstrapServers = [new BrokerAddress("n2", 9092)], RequestTimeoutMs = 5_000 });
        peer.AddTopic("t");
        // The client bootstraps over the node's network: connect, ApiVersions, Metadata.
        w.Run(() => peer.Metadata.Brokers.ContainsKey(2));
        Assert.Equal(new BrokerAddress("n2", 9092), peer.Metadata.Brokers[2]);
        w.Run(() => peer.Ready(2));
        Assert.True(w.Nodes[0].PeerConnectionCount >= 1);

        MetadataResponse? answer = null;
        peer.Send(2, ApiKey.Metadata, new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = "t" }] },
            r => answer = (MetadataResponse?)r.Body);
        w.Run(() => answer is not null);
        var topic = Assert.Single(answer!.Topics);
        Assert.Equal(2, topic.Partitions.Count);
        Assert.All(topic.Partitions, p => Assert.Equal(2, p.LeaderId));
        // The peer's side saw an ordinary client connection.
        Assert.True(b.ConnectionCount >= 1);
    }

    [Fact]
    public void A_connect_to_an_unknown_peer_fails_as_an_input_and_the_client_backs_off()
    {
        var w = new World();
        var failed = new List<BrokerAddress>();
        var peer = w.Nodes[0].StartPeerClient(new KafkaClientOptions { BootstrapServers = [new BrokerAddress("nowhere", 1)], RequestTimeoutMs = 5_000 });
        peer.ConnectFailed = failed.Add;
        peer.AddTopic("t");
        w.Run(() => failed.Count >= 2);
        Assert.All(failed, a => Assert.Equal(new BrokerAddress("nowhere", 1), a));
        Assert.Equal(0, w.Nodes[0].PeerConnectionCount);
    }
}
