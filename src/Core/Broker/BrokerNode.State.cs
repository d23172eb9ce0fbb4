using DetKafka.Core.Abstractions;

namespace DetKafka.Core.Broker;

// The node's durable state (topics, logs) and its lifecycle. Filled in as storage lands.
public sealed partial class BrokerNode
{
    private void InitializeState() { }

    private long StateNextDeadlineMs() => long.MaxValue;

    private void PollState(long nowMs) { }

    /// <summary>Recover the data directory. Call once before any other input.</summary>
    public void Start() { }

    public void OnSyncCompleted(long token, DiskStatus status) { }

    /// <summary>Sync everything and stop: the host calls this on SIGTERM after draining in-flight writes.</summary>
    public void Shutdown() { }
}
