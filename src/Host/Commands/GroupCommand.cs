using System.CommandLine;
using System.Globalization;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Host.Tools;

namespace DetKafka.Host.Commands;

/// <summary>
/// <c>detkafka group list|describe|delete|seek</c>, as kafka-consumer-groups.sh: groups with their state; one group's
/// members and, per partition, the committed offset, the log end offset and the lag between them; deleting empty
/// groups; moving an inactive group's committed offsets. Group requests go to the group's coordinator
/// (FindCoordinator); offsets come from OffsetFetch, log ends from ListOffsets.
/// </summary>
public static class GroupCommand
{
    public static Command Create()
    {
        var group = new Command("group", "Inspect and manage consumer groups.");
        group.Subcommands.Add(List());
        group.Subcommands.Add(Describe());
        group.Subcommands.Add(Delete());
        group.Subcommands.Add(Seek());
        return group;
    }

    private static Command List()
    {
        var list = new Command("list", "List the consumer groups with their state.");
        var flags = ClientFlags.AddTo(list);
        list.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            using var session = flags.Open(p);
            var response = session.Call<ListGroupsResponse>(ApiKey.ListGroups, new ListGroupsRequest());
            if (response.ErrorCode != ErrorCode.None) throw new CliException($"ListGroups: {CliSession.ErrorName(response.ErrorCode)}");
            var rows = response.Groups.OrderBy(g => g.GroupId, StringComparer.Ordinal).ToList();
            if (output.IsJson)
                output.WriteJson(rows.Select(g => new { group = g.GroupId, protocol_type = g.ProtocolType, state = g.GroupState }));
            else
                output.WriteTable(null, ["GROUP", "STATE", "PROTOCOL-TYPE"], rows.Select(g => new[] { g.GroupId, g.GroupState, g.ProtocolType }));
            return 0;
        }));
        return list;
    }

    /// <summary>One partition of a described group.</summary>
    private sealed record LagRow(string Topic, int Partition, long? Committed, long LogEnd, string? MemberId, string? ClientId, string? Host)
    {
        public long? Lag => Committed is { } c && c >= 0 ? Math.Max(0, LogEnd - c) : null;
    }

    private static Command Describe()
    {
        var describe = new Command("describe", "A group's state, members, and per partition its committed offset, log end offset and lag.");
        var name = new Argument<string>("group") { Description = "Group id" };
        describe.Arguments.Add(name);
        var flags = ClientFlags.AddTo(describe);
        describe.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            string groupId = p.GetValue(name)!;
            using var session = flags.Open(p);
            int coordinator = session.Coordinator(groupId);
            var described = session.CallNode<DescribeGroupsResponse>(coordinator, ApiKey.DescribeGroups,
                new DescribeGroupsRequest { Groups = [groupId] }).Groups.Single();
            if (described.ErrorCode != ErrorCode.None)
                throw new CliException($"group '{groupId}': {CliSession.ErrorName(described.ErrorCode)}");
            var committed = Committed(session, coordinator, groupId);
            if (described.GroupState == "Dead" && committed.Count == 0)
                throw new CliException($"group '{groupId}' does not exist");

            // Who owns what: the consumer protocol's assignment of each member.
            var owners = new Dictionary<(string, int), DescribeGroupsResponse.DescribedGroupMember>();
            foreach (var m in described.Members)
                foreach (var (topic, partitions) in DecodeAssignment(m.MemberAssignment.Span))
                    foreach (int partition in partitions) owners[(topic, partition)] = m;
            // Every partition of every topic the group committed on or is assigned: one without a commit shows "-".
            var topics = committed.Keys.Select(k => k.Item1).Union(owners.Keys.Select(k => k.Item1)).Distinct().ToList();
            var all = new HashSet<(string, int)>(committed.Keys.Union(owners.Keys));
            var logEnds = new Dictionary<(string, int), long>();
            if (topics.Count > 0)
            {
                var metadata = session.Metadata(topics);
                foreach (var t in metadata.Topics.Where(t => t.ErrorCode == ErrorCode.None))
                    foreach (var x in t.Partitions) all.Add((t.Name ?? "", x.PartitionIndex));
                logEnds = TopicCommand.ListOffsets(session, metadata, ListOffsetsRequest.LatestTimestamp);
            }
            var partitionsOfInterest = all.OrderBy(k => k.Item1, StringComparer.Ordinal).ThenBy(k => k.Item2).ToList();
            var rows = partitionsOfInterest.Select(k =>
            {
                owners.TryGetValue(k, out var m);
                return new LagRow(k.Item1, k.Item2, committed.TryGetValue(k, out long c) ? c : null, logEnds.GetValueOrDefault(k, -1),
                    m?.MemberId, m?.ClientId, m?.ClientHost);
            }).ToList();

            if (output.IsJson)
            {
                output.WriteJson(new
                {
                    group = groupId, state = described.GroupState, protocol_type = described.ProtocolType, protocol = described.ProtocolData,
                    members = described.Members.Select(m => new { member_id = m.MemberId, group_instance_id = m.GroupInstanceId, client_id = m.ClientId, host = m.ClientHost }),
                    partitions = rows.Select(r => new
                    {
                        topic = r.Topic, partition = r.Partition, current_offset = r.Committed, log_end_offset = r.LogEnd, lag = r.Lag,
                        consumer_id = r.MemberId, client_id = r.ClientId, host = r.Host,
                    }),
                    total_lag = rows.Sum(r => r.Lag ?? 0),
                });
                return 0;
            }
            output.WriteTable($"group {groupId}: {described.GroupState}, {described.Members.Count} member(s), protocol {Dash(described.ProtocolData)}",
                ["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"],
                rows.Select(r => new[]
                {
                    r.Topic, Num(r.Partition), r.Committed is { } c ? Num(c) : "-", r.LogEnd >= 0 ? Num(r.LogEnd) : "-",
                    r.Lag is { } l ? Num(l) : "-", Dash(r.MemberId), Dash(r.Host), Dash(r.ClientId),
                }));
            return 0;
        }));
        return describe;
    }

    private static Command Delete()
    {
        var delete = new Command("delete", "Delete empty groups and their committed offsets.");
        var names = new Argument<string[]>("group") { Description = "Group ids", Arity = ArgumentArity.OneOrMore };
        delete.Arguments.Add(names);
        var flags = ClientFlags.AddTo(delete);
        delete.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            using var session = flags.Open(p);
            var results = new List<(string Group, ErrorCode Error)>();
            foreach (string groupId in p.GetValue(names)!.Distinct(StringComparer.Ordinal))
            {
                int coordinator = session.Coordinator(groupId);
                var response = session.CallNode<DeleteGroupsResponse>(coordinator, ApiKey.DeleteGroups,
                    new DeleteGroupsRequest { GroupsNames = [groupId] });
                results.AddRange(response.Results.Select(r => (r.GroupId, r.ErrorCode)));
            }
            if (output.IsJson)
                output.WriteJson(results.Select(r => new { group = r.Group, error = r.Error == ErrorCode.None ? null : CliSession.ErrorName(r.Error) }));
            else
                output.WriteTable(null, ["GROUP", "STATUS"], results.Select(r => new[] { r.Group, r.Error == ErrorCode.None ? "DELETED" : CliSession.ErrorName(r.Error) }));
            foreach (var r in results.Where(r => r.Error != ErrorCode.None))
                output.Error.WriteLine($"detkafka: group '{r.Group}': {CliSession.ErrorName(r.Error)}");
            return results.All(r => r.Error == ErrorCode.None) ? 0 : 1;
        }));
        return delete;
    }

    private static Command Seek()
    {
        var seek = new Command("seek", "Move an inactive group's committed offsets of a topic (kafka-consumer-groups.sh --reset-offsets --execute).");
        var name = new Argument<string>("group") { Description = "Group id" };
        var topicOption = new Option<string>("--topic", "-t") { Description = "Topic whose offsets move", Required = true, HelpName = "topic" };
        var partition = new Option<int[]>("--partition", "-p") { Description = "Partition (repeatable; default all)", HelpName = "n" };
        var to = new Option<string>("--to") { Description = "earliest, latest, or an offset", Required = true, HelpName = "earliest|latest|offset" };
        seek.Arguments.Add(name);
        seek.Options.Add(topicOption);
        seek.Options.Add(partition);
        seek.Options.Add(to);
        var flags = ClientFlags.AddTo(seek);
        seek.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            string groupId = p.GetValue(name)!, topic = p.GetValue(topicOption)!, target = p.GetValue(to)!.Trim();
            long? fixedOffset = null;
            if (target is not ("earliest" or "latest"))
            {
                if (!long.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out long o))
                    throw new CliException($"--to: '{target}' is not earliest, latest or an offset");
                fixedOffset = o;
            }
            using var session = flags.Open(p);
            var metadata = session.Metadata([topic]);
            var t = metadata.Topics.First();
            if (t.ErrorCode != ErrorCode.None) throw new CliException($"topic '{topic}': {CliSession.ErrorName(t.ErrorCode)}");
            var wanted = p.GetValue(partition) is { Length: > 0 } chosen ? chosen.Distinct().Order().ToList() : t.Partitions.Select(x => x.PartitionIndex).Order().ToList();
            foreach (var x in wanted)
                if (x < 0 || x >= t.Partitions.Count) throw new CliException($"--partition: topic '{topic}' has no partition {x}");
            int coordinator = session.Coordinator(groupId);
            var described = session.CallNode<DescribeGroupsResponse>(coordinator, ApiKey.DescribeGroups,
                new DescribeGroupsRequest { Groups = [groupId] }).Groups.Single();
            if (described.Members.Count > 0)
                throw new CliException($"group '{groupId}' has {described.Members.Count} active member(s); stop them before moving its offsets");
            var offsets = fixedOffset is { } f
                ? wanted.ToDictionary(x => x, _ => f)
                : TopicCommand.ListOffsets(session, metadata,
                    target == "earliest" ? ListOffsetsRequest.EarliestTimestamp : ListOffsetsRequest.LatestTimestamp)
                    .Where(kv => wanted.Contains(kv.Key.Item2)).ToDictionary(kv => kv.Key.Item2, kv => kv.Value);
            foreach (var x in wanted)
                if (!offsets.TryGetValue(x, out long o) || o < 0) throw new CliException($"{topic}-{x}: the broker gave no {target} offset");
            var response = session.CallNode<OffsetCommitResponse>(coordinator, ApiKey.OffsetCommit, new OffsetCommitRequest
            {
                GroupId = groupId,
                GenerationId = -1,
                MemberId = "",
                Topics =
                [
                    new OffsetCommitRequest.OffsetCommitRequestTopic
                    {
                        Name = topic,
                        Partitions = wanted.Select(x => new OffsetCommitRequest.OffsetCommitRequestPartition
                        {
                            PartitionIndex = x, CommittedOffset = offsets[x],
                        }).ToList(),
                    },
                ],
            });
            var rows = response.Topics.SelectMany(r => r.Partitions.Select(x => (Partition: x.PartitionIndex, Offset: offsets[x.PartitionIndex], x.ErrorCode)))
                .OrderBy(r => r.Partition).ToList();
            if (output.IsJson)
                output.WriteJson(rows.Select(r => new { group = groupId, topic, partition = r.Partition, new_offset = r.Offset, error = r.ErrorCode == ErrorCode.None ? null : CliSession.ErrorName(r.ErrorCode) }));
            else
                output.WriteTable($"group {groupId}", ["TOPIC", "PARTITION", "NEW-OFFSET", "STATUS"], rows.Select(r => new[]
                {
                    topic, Num(r.Partition), Num(r.Offset), r.ErrorCode == ErrorCode.None ? "OK" : CliSession.ErrorName(r.ErrorCode),
                }));
            foreach (var r in rows.Where(r => r.ErrorCode != ErrorCode.None))
                output.Error.WriteLine($"detkafka: {topic}-{r.Partition}: {CliSession.ErrorName(r.ErrorCode)}");
            return rows.All(r => r.ErrorCode == ErrorCode.None) ? 0 : 1;
        }));
        return seek;
    }

    /// <summary>The group's committed offsets (OffsetFetch for every partition it committed).</summary>
    private static Dictionary<(string, int), long> Committed(CliSession session, int coordinator, string groupId)
    {
        var response = session.CallNode<OffsetFetchResponse>(coordinator, ApiKey.OffsetFetch, new OffsetFetchRequest
        {
            GroupId = groupId,
            Topics = null,
            Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = groupId, Topics = null }],
        });
        var result = new Dictionary<(string, int), long>();
        if (response.Groups.Count > 0)
        {
            var g = response.Groups[0];
            if (g.ErrorCode != ErrorCode.None) throw new CliException($"group '{groupId}': {CliSession.ErrorName(g.ErrorCode)}");
            foreach (var t in g.Topics)
                foreach (var x in t.Partitions.Where(x => x.ErrorCode == ErrorCode.None && x.CommittedOffset >= 0))
                    result[(t.Name, x.PartitionIndex)] = x.CommittedOffset;
            return result;
        }
        if (response.ErrorCode != ErrorCode.None) throw new CliException($"group '{groupId}': {CliSession.ErrorName(response.ErrorCode)}");
        foreach (var t in response.Topics)
            foreach (var x in t.Partitions.Where(x => x.ErrorCode == ErrorCode.None && x.CommittedOffset >= 0))
                result[(t.Name, x.PartitionIndex)] = x.CommittedOffset;
        return result;
    }

    /// <summary>The consumer protocol's assignment (version int16, [topic string, [partition int32]], user data):
    /// what a member owns. Anything else (another protocol type, or bytes that do not parse) owns nothing here.</summary>
    internal static List<(string Topic, List<int> Partitions)> DecodeAssignment(ReadOnlySpan<byte> bytes)
    {
        var result = new List<(string, List<int>)>();
        if (bytes.Length < 2) return result;
        try
        {
            var reader = new KafkaReader(bytes.ToArray());
            reader.ReadInt16();
            int topics = reader.ReadArrayCount(compact: false);
            for (int i = 0; i < topics; i++)
            {
                string topic = reader.ReadString(compact: false);
                int count = reader.ReadArrayCount(compact: false);
                var partitions = new List<int>(count);
                for (int j = 0; j < count; j++) partitions.Add(reader.ReadInt32());
                result.Add((topic, partitions));
            }
        }
        catch (ProtocolException)
        {
            result.Clear();
        }
        return result;
    }

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Dash(string? s) => string.IsNullOrEmpty(s) ? "-" : s;
}
