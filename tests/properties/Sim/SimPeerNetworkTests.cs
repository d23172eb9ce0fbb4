using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using Xunit;

namespace DetKafka.Properties.Sim;

/// <summary>Node-to-node connections in the simulator (issue 16): a broker's peer client crosses the same
/// simulated links as the clients' connections (SYN, SYN-ACK, segments, resets), with the invariants on.</summary>
public class SimPeerNetworkTests
{
    [Fact]
    public void A_node_talks_to_its_peer_over_the_simulated_network()
    {
        var s = new SimScenario(seed: 11, adjust: o => o with { Nodes = 2 });
        var a = s.World.Nodes[0];
        var b = s.World.Nodes[1];
        var peer = a.Broker!.StartPeerClient(new KafkaClientOptions { BootstrapServers = [s.World.AddressOf(b)], RequestTimeoutMs = 2_000 });
        peer.AddTopic("jepsen");
        for (long ms = 100; ms <= 5_000 && !peer.Metadata.Brokers.ContainsKey(b.NodeId); ms += 100) s.RunUntil(ms);
        Assert.Equal(s.World.AddressOf(b), peer.Metadata.Brokers[b.NodeId]);
        Assert.Contains(s.Notes("connect"), r => r.Actor == a.Name);

        for (long ms = s.NowMs + 100; !peer.Ready(b.NodeId) && ms <= 10_000; ms += 100) s.RunUntil(ms);
        ApiVersionsResponse? answer = null;
        peer.Send(b.NodeId, ApiKey.ApiVersions, new ApiVersionsRequest { ClientSoftwareName = "peer", ClientSoftwareVersion = "1" },
            r => answer = (ApiVersionsResponse?)r.Body);
        for (long ms = s.NowMs + 100; answer is null && ms <= 15_000; ms += 100) s.RunUntil(ms);
        Assert.NotNull(answer);
        Assert.Equal(ErrorCode.None, answer!.ErrorCode);
    }
}
