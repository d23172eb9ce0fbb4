using System.Globalization;

namespace DetKafka.Core.Broker;

/// <summary>One voter of the controller quorum: node id and the address its peers reach it at.</summary>
public readonly record struct QuorumVoter(int NodeId, string Host, int Port)
{
    /// <summary>Bounds of the list (Kafka's voter sets are small; the Raft core allows 15).</summary>
    public const int MaxVoters = Raft.VoterSet.MaxVoters;

    public override string ToString() => NodeId.ToString(CultureInfo.InvariantCulture) + "@" + Host + ":" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Parses Kafka's controller.quorum.voters syntax: comma-separated <c>id@host:port</c> (an IPv6 host in
    /// brackets). Empty or blank text is the empty list. Returns an error message for anything else: a missing part,
    /// a negative id, a port outside 1-65535, a repeated id, more than <see cref="MaxVoters"/> voters.
    /// </summary>
    public static string? TryParseList(string? text, out List<QuorumVoter> voters)
    {
        voters = new List<QuorumVoter>();
        if (string.IsNullOrWhiteSpace(text)) return null;
        foreach (var raw in text.Split(','))
        {
            var item = raw.Trim();
            int at = item.IndexOf('@');
            int colon = item.LastIndexOf(':');
            if (at <= 0 || colon <= at + 1 || colon == item.Length - 1)
                return $"'{item}' is not id@host:port";
            if (!int.TryParse(item.AsSpan(0, at), NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                return $"'{item}': the node id must be a non-negative integer";
            string host = item[(at + 1)..colon];
            if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
            if (host.Length == 0) return $"'{item}': the host is empty";
            if (!int.TryParse(item.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
                return $"'{item}': the port must be in 1-65535";
            if (voters.Exists(v => v.NodeId == id)) return $"node id {id} appears twice";
            if (voters.Count == MaxVoters) return $"at most {MaxVoters} voters";
            voters.Add(new QuorumVoter(id, host, port));
        }
        voters.Sort((a, b) => a.NodeId.CompareTo(b.NodeId));
        return null;
    }

    public static List<QuorumVoter> ParseList(string? text)
        => TryParseList(text, out var voters) is { } error ? throw new ArgumentException("controller.quorum.voters: " + error) : voters;
}
