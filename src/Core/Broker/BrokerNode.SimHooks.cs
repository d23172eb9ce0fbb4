namespace DetKafka.Core.Broker;

// Hooks the simulator's cluster world uses (src/Sim/World, cluster mode): nothing here changes behaviour.
public sealed partial class BrokerNode
{
    /// <summary>Proposes a topic at the controller (as CreateTopics does) without waiting for the commit: the
    /// simulated world's start-up creates its replicated workload topic this way and watches the image for it.
    /// NOT_CONTROLLER away from the controller.</summary>
    public (Protocol.ErrorCode Error, string? Message) ProposeTopic(string name, int partitions, int replicationFactor,
        IReadOnlyList<KeyValuePair<string, string?>> configs)
        => ProposeCreateTopic(name, partitions, configs, validateOnly: false, out _, out _, replicationFactor);
}
