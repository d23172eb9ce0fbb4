using DetKafka.Core.Broker;

namespace DetKafka.Core.Handlers;

/// <summary>The list of served APIs besides ApiVersions; each entry is one file under Handlers/.</summary>
internal static class BrokerHandlers
{
    public static IEnumerable<ApiHandler> Create(BrokerNode broker)
    {
        yield break;
    }
}
