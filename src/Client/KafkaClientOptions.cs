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

    /// <summary>Decode each response straight from the receive buffer instead of from a copy of its frame. Byte
    /// fields of a response body (fetched records) then point into that buffer and are valid only inside the
    /// request's callback. Off by default; the load generator turns it on (with <see cref="RawBatchHandler"/>
    /// nothing outlives the callback), saving a copy, on the large object heap, of every large fetch response.</summary>
    public bool DecodeResponsesInPlace { get; init; }

    /// <summary>A connection's receive buffer grows to fit a response; once empty it shrinks back unless it is at
    /// most this large. The default keeps idle connections small; a client streaming large fetches keeps more
    /// so it does not allocate the buffer again for every response.</summary>
    public int ReceiveBufferKeepBytes { get; init; } = 16 * 1024;

    public void Validate()
    {
        if (BootstrapServers.Count == 0) throw new ArgumentException("bootstrap servers are required");
        if (RequestTimeoutMs <= 0 || ConnectionSetupTimeoutMs <= 0) throw new ArgumentException("timeouts must be positive");
        if (ReconnectBackoffMs <= 0 || ReconnectBackoffMaxMs < ReconnectBackoffMs) throw new ArgumentException("bad reconnect backoff");
        if (RetryBackoffMs <= 0) throw new ArgumentException("retry.backoff.ms must be positive");
        if (MaxInFlightRequestsPerConnection <= 0) throw new ArgumentException("max in flight must be positive");
        if (ResponseBytesMax <= 0 || ConnectionsMax <= 0 || ReceiveBufferKeepBytes <= 0) throw new ArgumentException("bounds must be positive");
    }
}
