using System.Globalization;
using System.Text;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Host.Perf;

namespace DetKafka.Host.Tools;

/// <summary>Something a CLI verb cannot do: printed as one line <c>detkafka: message</c>, exit code 1.</summary>
public sealed class CliException(string message) : Exception(message);

/// <summary>
/// One CLI verb's connection to the cluster: the project's own client (<see cref="KafkaClient"/>) over real
/// sockets on the calling thread, with an <see cref="AdminClient"/> for admin requests. Calls are synchronous and
/// bounded by the timeout; an unreachable broker fails at once with the address it tried.
/// </summary>
public sealed class CliSession : IDisposable
{
    private readonly ClientDriver _driver;
    private string? _connectFailure;

    public CliSession(IReadOnlyList<BrokerAddress> brokers, int timeoutMs, string clientId = "detkafka-cli",
        bool allowAutoTopicCreation = false)
    {
        TimeoutMs = timeoutMs;
        Brokers = brokers;
        var options = new KafkaClientOptions
        {
            ClientId = clientId,
            BootstrapServers = brokers,
            AllowAutoTopicCreation = allowAutoTopicCreation,
            RequestTimeoutMs = Math.Max(1, timeoutMs),
            ConnectionSetupTimeoutMs = Math.Max(1, timeoutMs),
        };
        _driver = new ClientDriver(options, seed: (ulong)Environment.ProcessId);
        Client.ConnectFailed = address => _connectFailure ??= $"cannot connect to broker {address}";
        Admin = new AdminClient(Client);
    }

    public int TimeoutMs { get; }
    public IReadOnlyList<BrokerAddress> Brokers { get; }
    public KafkaClient Client => _driver.Client;
    public ClientDriver Driver => _driver;
    public AdminClient Admin { get; }

    /// <summary>Parses <c>host:port[,host:port...]</c>.</summary>
    public static IReadOnlyList<BrokerAddress> ParseBrokers(string value)
    {
        var result = new List<BrokerAddress>();
        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = part.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(part.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port)
                || port is <= 0 or > 65535)
                throw new CliException($"--brokers: '{part}' is not host:port");
            result.Add(new BrokerAddress(part[..colon].Trim('[', ']'), port));
        }
        if (result.Count == 0) throw new CliException("--brokers: no broker address given");
        return result;
    }

    /// <summary>Steps the client until <paramref name="done"/> holds. Throws on an unreachable broker or timeout.</summary>
    public void RunUntil(Func<bool> done, string what)
    {
        long until = Environment.TickCount64 + TimeoutMs;
        while (!done())
        {
            if (_connectFailure is { } failure) throw new CliException(failure);
            if (Environment.TickCount64 >= until)
                throw new CliException($"{what}: no answer from {string.Join(",", Brokers)} within {TimeoutMs} ms");
            _driver.Step(10_000);
        }
    }

    /// <summary>Runs until the first metadata arrived (brokers, controller).</summary>
    public void WaitForMetadata() => RunUntil(() => Client.Metadata.LastUpdateMs >= 0, "metadata");

    /// <summary>Sends an admin request to the controller and waits for its response.</summary>
    public T Call<T>(ApiKey key, IKafkaMessage request) where T : class, IKafkaMessage
    {
        ClientResponse? result = null;
        Admin.Submit(key, request, r => result = r);
        _driver.PollNow();
        RunUntil(() => result is not null, key.ToString());
        return Body<T>(key, result!.Value, "the broker");
    }

    /// <summary>A response's body, or the one-line error a verb prints for what became of the request.</summary>
    private T Body<T>(ApiKey key, ClientResponse response, string broker) where T : class, IKafkaMessage => response.Status switch
    {
        ResponseStatus.Ok => (T)response.Body!,
        ResponseStatus.Unsupported => throw new CliException($"{broker} does not serve {key} at a version this client speaks"),
        ResponseStatus.TimedOut => throw new CliException($"{key}: timed out after {TimeoutMs} ms"),
        _ => throw new CliException($"{key}: the connection to {broker} closed ({response.Status})"),
    };

    /// <summary>Sends a request to one broker (a group's coordinator) and waits for its response.</summary>
    public T CallNode<T>(int nodeId, ApiKey key, IKafkaMessage request) where T : class, IKafkaMessage
    {
        WaitForMetadata();
        RunUntil(() => Client.Ready(nodeId), $"connecting to broker {nodeId}");
        ClientResponse? result = null;
        Client.Send(nodeId, key, request, r => result = r);
        RunUntil(() => result is not null, key.ToString());
        return Body<T>(key, result!.Value, $"broker {nodeId}");
    }

    /// <summary>The broker that coordinates <paramref name="group"/> (FindCoordinator, key type group).</summary>
    public int Coordinator(string group)
    {
        var found = Call<FindCoordinatorResponse>(ApiKey.FindCoordinator, new FindCoordinatorRequest
        {
            Key = group,
            KeyType = FindCoordinatorRequest.KeyTypeGroup,
            CoordinatorKeys = [group],
        });
        var (error, node) = found.Coordinators.Count > 0
            ? (found.Coordinators[0].ErrorCode, found.Coordinators[0].NodeId)
            : (found.ErrorCode, found.NodeId);
        if (error != ErrorCode.None) throw new CliException($"group '{group}': no coordinator ({ErrorName(error)})");
        return node;
    }

    /// <summary>Metadata for the given topics (null: every topic), straight from the controller.</summary>
    public MetadataResponse Metadata(IEnumerable<string>? topics)
        => Call<MetadataResponse>(ApiKey.Metadata, new MetadataRequest
        {
            Topics = topics?.Select(t => new MetadataRequest.MetadataRequestTopic { Name = t }).ToList(),
            AllowAutoTopicCreation = false,
        });

    /// <summary>Kafka's error name for a code: UNKNOWN_TOPIC_OR_PARTITION.</summary>
    public static string ErrorName(ErrorCode code)
    {
        var name = code.ToString();
        if (int.TryParse(name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)) return "ERROR_" + name;
        var sb = new StringBuilder(name.Length + 8);
        for (int i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i]) && !char.IsUpper(name[i - 1])) sb.Append('_');
            sb.Append(char.ToUpperInvariant(name[i]));
        }
        return sb.ToString();
    }

    /// <summary>"topic 'x': UNKNOWN_TOPIC_OR_PARTITION (message)".</summary>
    public static string Describe(ErrorCode code, string? message)
        => ErrorName(code) + (string.IsNullOrEmpty(message) ? "" : ": " + message);

    public void Dispose() => _driver.Dispose();
}
