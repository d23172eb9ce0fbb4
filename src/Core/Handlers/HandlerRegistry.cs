using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Util;

namespace DetKafka.Core.Handlers;

/// <summary>The APIs this broker serves, indexed by key. The single source of the ApiVersions answer.</summary>
public sealed class HandlerRegistry
{
    private readonly ApiHandler?[] _byKey = new ApiHandler?[128];

    public HandlerRegistry(BrokerNode broker)
    {
        Register(new ApiVersionsHandler(broker, this));
        foreach (var handler in BrokerHandlers.Create(broker)) Register(handler);
    }

    private void Register(ApiHandler handler)
    {
        short key = (short)handler.Key;
        Check.That(key >= 0 && key < _byKey.Length && _byKey[key] is null, "one handler per API key");
        Check.That(handler.MinVersion <= handler.MaxVersion);
        var codec = MessageCodec.CodecRange(handler.Key);
        Check.That(codec is { } c && c.Min <= handler.MinVersion && handler.MaxVersion <= c.Max,
            "a handler serves only versions its codec implements");
        _byKey[key] = handler;
    }

    public ApiHandler? Find(ApiKey key)
    {
        short k = (short)key;
        return k >= 0 && k < _byKey.Length ? _byKey[k] : null;
    }

    /// <summary>Every served API with its range, in key order.</summary>
    public List<ApiVersionsResponse.ApiVersion> Advertised()
    {
        var list = new List<ApiVersionsResponse.ApiVersion>();
        foreach (var h in _byKey)
        {
            if (h is null) continue;
            list.Add(new ApiVersionsResponse.ApiVersion { ApiKey = h.Key, MinVersion = h.MinVersion, MaxVersion = h.MaxVersion });
        }
        return list;
    }
}
