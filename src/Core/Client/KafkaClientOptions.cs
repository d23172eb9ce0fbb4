using DetKafka.Core.Protocol;

namespace DetKafka.Core.Client;

/// <summary>
/// Settings of <see cref="KafkaClient"/>, named after the Java client's configs where one exists
/// (request.timeout.ms, reconnect.backoff.ms, ...). Every queue and buffer the client keeps is bounded by one
/// of these.
/// </summary>
public sealed record KafkaClientOptions
{
    /// <summary>client.id, sent in every request header.</summary>
    public string ClientId { get; init; } = "detkafka-client";

    /// <summary>bootstrap.servers: where the first Metadata request goes.</summary>
    public IReadOnlyList<BrokerAddress> BootstrapServers { get; init; } = [];

    /// <summary>request.timeout.ms: a request unanswered this long closes its connection (as the Java client does),
    /// failing every request in flight on it.</summary>
    public int RequestTimeoutMs { get; init; } = 30_000;

    /// <summary>socket.connection.setup.timeout.ms: a connection not established this long is abandoned.</summary>
    public int ConnectionSetupTimeoutMs { get; init; } = 10_000;

    /// <summary>reconnect.backoff.ms and reconnect.backoff.max.ms: exponential backoff with 20% jitter.</summary>
    public int ReconnectBackoffMs { get; init; } = 50;
    public int ReconnectBackoffMaxMs { get; init; } = 1_000;

    /// <summary>retry.backoff.ms: the wait before retrying a failed metadata request.</summary>
    public int RetryBackoffMs { get; init; } = 100;

    /// <summary>metadata.max.age.ms.</summary>
    public int MetadataMaxAgeMs { get; init; } = 300_000;

    /// <summary>max.in.flight.requests.per.connection.</summary>
    public int MaxInFlightRequestsPerConnection { get; init; } = 5;

    /// <summary>The largest response frame accepted; a larger size prefix closes the connection.</summary>
    public int ResponseBytesMax { get; init; } = 64 * 1024 * 1024;

    /// <summary>allow.auto.create.topics, sent with Metadata v4+.</summary>
    public bool AllowAutoTopicCreation { get; init; }

    /// <summary>Caps on the version used per API (below what client and broker both support): lets tests and the
    /// simulator exercise older encodings. Keys absent are uncapped.</summary>
    public IReadOnlyDictionary<ApiKey, short> MaxVersions { get; init; } = new Dictionary<ApiKey, short>();

    /// <summary>Bound on connections the client opens (one per broker plus bootstrap ones).</summary>
    public int ConnectionsMax { get; init; } = 64;

    public void Validate()
    {
        if (BootstrapServers.Count == 0) throw new ArgumentException("bootstrap servers are required");
        if (RequestTimeoutMs <= 0 || ConnectionSetupTimeoutMs <= 0) throw new ArgumentException("timeouts must be positive");
        if (ReconnectBackoffMs <= 0 || ReconnectBackoffMaxMs < ReconnectBackoffMs) throw new ArgumentException("bad reconnect backoff");
        if (RetryBackoffMs <= 0) throw new ArgumentException("retry.backoff.ms must be positive");
        if (MaxInFlightRequestsPerConnection <= 0) throw new ArgumentException("max in flight must be positive");
        if (ResponseBytesMax <= 0 || ConnectionsMax <= 0) throw new ArgumentException("bounds must be positive");
    }
}
