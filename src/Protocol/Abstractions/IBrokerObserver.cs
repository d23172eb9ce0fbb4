using DetKafka.Core.Protocol;

namespace DetKafka.Core.Abstractions;

/// <summary>
/// What the host watches of a running node, for its metrics. Core calls it on the driver thread at the few places
/// that matter (a request arrives, a response leaves, records are appended); it never reads a clock itself, so
/// timing is the observer's business: <see cref="RequestStarted"/> returns a token (the host's timestamp) that
/// Core keeps in the request and hands back on completion. Implementations must not allocate or block: these
/// calls sit on the produce and fetch paths.
/// </summary>
public interface IBrokerObserver
{
    /// <summary>A request was decoded and is about to be handled. The return value comes back in
    /// <see cref="RequestCompleted"/>.</summary>
    long RequestStarted(in RequestHeader header, ConnectionId connection);

    /// <summary>The request was answered with <paramref name="response"/> (null: no response, as Produce with
    /// acks=0). The body is only valid during the call.</summary>
    void RequestCompleted(in RequestHeader header, ConnectionId connection, long token, IKafkaMessage? response);

    /// <summary>A produce appended <paramref name="records"/> records in <paramref name="bytes"/> bytes.</summary>
    void RecordsAppended(string topic, int partition, int bytes, int records);
}

/// <summary>Watches nothing (the simulator, tests, benchmarks).</summary>
public sealed class NullBrokerObserver : IBrokerObserver
{
    public static readonly NullBrokerObserver Instance = new();
    public long RequestStarted(in RequestHeader header, ConnectionId connection) => 0;
    public void RequestCompleted(in RequestHeader header, ConnectionId connection, long token, IKafkaMessage? response) { }
    public void RecordsAppended(string topic, int partition, int bytes, int records) { }
}
