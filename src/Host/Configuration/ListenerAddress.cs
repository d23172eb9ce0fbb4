using System.Globalization;

namespace DetKafka.Host.Configuration;

/// <summary>
/// One entry of Kafka's <c>listeners</c> / <c>advertised.listeners</c>: <c>NAME://host:port</c>. The host may be
/// empty (all interfaces, as in Kafka's <c>PLAINTEXT://:9092</c>) and IPv6 literals are bracketed.
/// </summary>
public sealed record ListenerAddress(string Name, string Host, int Port)
{
    public const string PlainText = "PLAINTEXT";

    /// <summary>True for an empty host or a wildcard address: bind everywhere, and not a name clients can dial.</summary>
    public bool IsWildcardHost => Host.Length == 0 || Host == "0.0.0.0" || Host == "::";

    public string HostPort => (Host.Contains(':') ? "[" + Host + "]" : Host) + ":" + Port.ToString(CultureInfo.InvariantCulture);

    public override string ToString() => Name + "://" + HostPort;

    /// <summary>Parse a comma-separated list. A bare <c>host:port</c> is taken as a PLAINTEXT listener.</summary>
    public static IReadOnlyList<ListenerAddress> ParseList(string value, string key)
    {
        var result = new List<ListenerAddress>();
        foreach (var raw in value.Split(','))
        {
            var entry = raw.Trim();
            if (entry.Length == 0) continue;
            result.Add(Parse(entry, key));
        }
        if (result.Count == 0) throw new ConfigException($"{key}: no listener given in '{value}'");
        return result;
    }

    public static ListenerAddress Parse(string entry, string key)
    {
        string name = PlainText;
        string rest = entry;
        int scheme = entry.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            name = entry[..scheme].Trim().ToUpperInvariant();
            rest = entry[(scheme + 3)..];
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_' || c == '-'))
                throw new ConfigException($"{key}: bad listener name in '{entry}'");
        }

        string host;
        string portText;
        if (rest.StartsWith('['))
        {
            int close = rest.IndexOf(']');
            if (close < 0 || close + 1 >= rest.Length || rest[close + 1] != ':')
                throw new ConfigException($"{key}: '{entry}' is not NAME://host:port (IPv6 hosts go in brackets: [::1]:9092)");
            host = rest[1..close];
            portText = rest[(close + 2)..];
        }
        else
        {
            int colon = rest.LastIndexOf(':');
            if (colon < 0) throw new ConfigException($"{key}: '{entry}' has no port (expected NAME://host:port or host:port)");
            host = rest[..colon];
            portText = rest[(colon + 1)..];
            if (host.Contains(':'))
                throw new ConfigException($"{key}: '{entry}': put IPv6 hosts in brackets, e.g. [::1]:9092");
        }
        if (host.Any(c => char.IsWhiteSpace(c) || c == '/'))
            throw new ConfigException($"{key}: bad host '{host}' in '{entry}'");
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
            throw new ConfigException($"{key}: bad port '{portText}' in '{entry}' (expected 0-65535)");
        return new ListenerAddress(name, host, port);
    }
}
