using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Client;

/// <summary>
/// Admin requests over <see cref="KafkaClient"/>, Kafka's AdminClient in spirit: each request waits for the first
/// metadata (so the controller is known), then goes to the controller (or, before one is known, any broker), once
/// that connection has room, in submission order. The caller builds the request from the message classes and reads
/// the response; the callback runs once, as <see cref="KafkaClient.Send"/>'s does. No retries: a CLI reports a
/// failed call, and a caller that wants retries submits again.
/// </summary>
public sealed class AdminClient : IClientComponent
{
    /// <summary>Bound on requests waiting to be sent.</summary>
    public const int PendingMax = 10_000;

    private readonly KafkaClient _client;
    private readonly Queue<(ApiKey Key, IKafkaMessage Body, Action<ClientResponse> Callback)> _pending = new();

    public AdminClient(KafkaClient client)
    {
        _client = client;
        client.Register(this);
    }

    /// <summary>Requests submitted and not yet handed to the network.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Queues a request for the controller; it goes out on the next <see cref="Poll"/> that finds the
    /// controller's connection ready.</summary>
    public void Submit(ApiKey key, IKafkaMessage body, Action<ClientResponse> callback)
    {
        Check.That(_pending.Count < PendingMax, "admin requests waiting are bounded");
        _pending.Enqueue((key, body, callback));
    }

    /// <summary>The node admin requests go to: the controller when the metadata names a live one, else the
    /// lowest broker id; -1 before the first metadata.</summary>
    public int TargetNode
    {
        get
        {
            var metadata = _client.Metadata;
            if (metadata.LastUpdateMs < 0) return -1;
            if (metadata.Brokers.ContainsKey(metadata.ControllerId)) return metadata.ControllerId;
            foreach (var id in metadata.Brokers.Keys) return id;
            return -1;
        }
    }

    /// <summary>Nothing timed: the client's inputs (metadata, a connection becoming ready, a response) wake it.</summary>
    public long NextDeadlineMs => long.MaxValue;

    public void Poll(long nowMs)
    {
        if (_pending.Count == 0) return;
        int node = TargetNode;
        if (node < 0)
        {
            _client.RequestMetadataUpdate();
            return;
        }
        while (_pending.Count > 0 && _client.Ready(node))
        {
            var (key, body, callback) = _pending.Dequeue();
            _client.Send(node, key, body, callback);
        }
    }
}
