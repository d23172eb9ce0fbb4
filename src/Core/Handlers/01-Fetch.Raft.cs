using DetKafka.Core.Broker;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// A replica's Fetch (ReplicaId >= 0, Kafka's follower fetch) for a Raft-managed log (the metadata log's
/// <c>__cluster_metadata-0</c>) goes to that log's endpoint: the Raft core validates it (epoch, log matching) and
/// answers with entries, a diverging epoch or an error, or parks it until something is appended. Consumer fetches
/// (ReplicaId -1) and fetches for partitions no endpoint runs take the ordinary path.
/// </summary>
internal static class RaftFetch
{
    public static bool TryRoute(BrokerNode broker, RequestContext request, FetchRequest fetch)
    {
        if (fetch.ReplicaId < 0 || fetch.Topics.Count != 1 || fetch.Topics[0].Partitions.Count != 1) return false;
        if (broker.FindRaftEndpoint(fetch.Topics[0].Topic, fetch.Topics[0].Partitions[0].Partition) is not { } endpoint) return false;
        endpoint.OnFetch(fetch, request.Respond, broker.Clock.MonotonicMs);
        return true;
    }
}
