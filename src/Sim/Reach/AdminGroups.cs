using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Sim.Reach;

/// <summary>
/// The admin process's group calls (SIMULATION.md, "The admin workload"): standalone offset commits (generation -1,
/// no members, as Kafka's admin tools and simple consumers do) to a group of its own over the queue workload's topic,
/// read back with OffsetFetch, removed with OffsetDelete and DeleteGroups, and the group described and listed. The
/// model keeps, per partition, the committed offsets the group may hold (-1: none); one change is in flight at a
/// time, and a change that ends without an answer retires the group's name (its request may still land later).
/// </summary>
public sealed partial class AdminWorkload
{
    private sealed class GroupModel(string name)
    {
        public readonly string Name = name;
        public readonly SortedDictionary<int, HashSet<long>> Committed = new();
        public readonly List<SortedDictionary<int, HashSet<long>>> Watchers = new();
        public bool InFlight;

        public HashSet<long> Of(int partition)
        {
            if (!Committed.TryGetValue(partition, out var set)) Committed[partition] = set = [-1];
            return set;
        }

        public void Add(int partition, long value)
        {
            Of(partition).Add(value);
            foreach (var w in Watchers)
            {
                if (!w.TryGetValue(partition, out var s)) w[partition] = s = [-1];
                s.Add(value);
            }
        }

        public SortedDictionary<int, HashSet<long>> Watch()
        {
            var copy = new SortedDictionary<int, HashSet<long>>();
            foreach (var (p, s) in Committed) copy[p] = new HashSet<long>(s);
            Watchers.Add(copy);
            return copy;
        }
    }

    private GroupModel? _group;
    private int _nextGroup;

    private GroupModel CurrentGroup => _group ??= new GroupModel("adm-g-" + (_nextGroup++).ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static bool IsCoordinatorError(ErrorCode e)
        => e is ErrorCode.CoordinatorNotAvailable or ErrorCode.NotCoordinator or ErrorCode.CoordinatorLoadInProgress;

    /// <summary>A change ended without an answer: the group's name is retired.</summary>
    private void RetireGroup(GroupModel g)
    {
        g.InFlight = false;
        if (_group == g) _group = null;
    }

    private string? GroupOperation(KafkaClient client, int node)
    {
        var g = CurrentGroup;
        string topic = _world.Options.Workload.Topic;
        int partitions = _world.Options.Workload.Partitions;
        int partition = _random.NextInt(0, partitions);
        double roll = _random.NextDouble();
        if (roll < 0.35 && !g.InFlight)
        {
            long value = _random.NextInt(0, 1_000_000);
            var request = new OffsetCommitRequest { GroupId = g.Name, GenerationId = -1, MemberId = "" };
            request.Topics.Add(new OffsetCommitRequest.OffsetCommitRequestTopic
            {
                Name = topic,
                Partitions = [new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = partition, CommittedOffset = value }],
            });
            g.InFlight = true;
            var before = new HashSet<long>(g.Of(partition));
            g.Add(partition, value);
            bool sent = Send(client, node, ApiKey.OffsetCommit, request, response =>
            {
                var error = (response.Body as OffsetCommitResponse)?.Topics.FirstOrDefault()?.Partitions.FirstOrDefault()?.ErrorCode;
                if (response.Status != ResponseStatus.Ok || error is null || IsAmbiguousError(error.Value) || IsCoordinatorError(error.Value))
                {
                    RetireGroup(g);
                    return;
                }
                Model.Count("OffsetCommit");
                g.InFlight = false;
                if (error == ErrorCode.None)
                {
                    g.Committed[partition] = [value];
                    return;
                }
                Model.Violation("model-offset-commit", $"OffsetCommit v{response.Version} of {g.Name} {topic}-{partition} answered {error} to a standalone commit");
                g.Committed[partition] = before;
            });
            if (!sent) RetireGroup(g);
            return "offset-commit " + g.Name;
        }
        if (roll < 0.65)
        {
            var seen = g.Watch();
            var request = new OffsetFetchRequest { GroupId = g.Name, RequireStable = _random.NextBool(0.5) };
            request.Topics = [new OffsetFetchRequest.OffsetFetchRequestTopic { Name = topic, PartitionIndexes = [partition] }];
            request.Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = g.Name, Topics = [new OffsetFetchRequest.OffsetFetchRequestTopics { Name = topic, PartitionIndexes = [partition] }] }];
            bool sent = Send(client, node, ApiKey.OffsetFetch, request, response =>
            {
                g.Watchers.Remove(seen);
                if (response.Status != ResponseStatus.Ok) return;
                var body = (OffsetFetchResponse)response.Body!;
                long? committed;
                ErrorCode error;
                if (response.Version >= 8)
                {
                    var group = body.Groups.FirstOrDefault();
                    var p = group?.Topics.FirstOrDefault()?.Partitions.FirstOrDefault();
                    error = group?.ErrorCode is { } ge && ge != ErrorCode.None ? ge : p?.ErrorCode ?? ErrorCode.UnknownServerError;
                    committed = p?.CommittedOffset;
                }
                else
                {
                    var p = body.Topics.FirstOrDefault()?.Partitions.FirstOrDefault();
                    error = response.Version >= 2 && body.ErrorCode != ErrorCode.None ? body.ErrorCode : p?.ErrorCode ?? ErrorCode.UnknownServerError;
                    committed = p?.CommittedOffset;
                }
                if (IsAmbiguousError(error) || IsCoordinatorError(error)) return;
                Model.Count("OffsetFetch");
                var acceptable = seen.TryGetValue(partition, out var s) ? s : [-1];
                if (error != ErrorCode.None || committed is not { } c || !acceptable.Contains(c))
                    Model.Violation("model-offset-fetch", $"OffsetFetch v{response.Version} of {g.Name} {topic}-{partition} answered {committed} ({error}); the group held {string.Join(" or ", acceptable.Order())}");
            });
            if (!sent) g.Watchers.Remove(seen);
            return "offset-fetch " + g.Name;
        }
        if (roll < 0.75 && !g.InFlight)
        {
            // OffsetDelete of an empty group's partition, or DeleteGroups of the whole group: afterwards nothing is
            // committed. A group with nothing committed does not exist: GROUP_ID_NOT_FOUND then.
            bool whole = _random.NextBool(0.5);
            g.InFlight = true;
            var before = g.Committed.ToDictionary(kv => kv.Key, kv => new HashSet<long>(kv.Value));
            foreach (var p in whole ? Enumerable.Range(0, partitions) : [partition]) g.Add(p, -1);
            IKafkaMessage request = whole
                ? new DeleteGroupsRequest { GroupsNames = [g.Name] }
                : new OffsetDeleteRequest
                {
                    GroupId = g.Name,
                    Topics = [new OffsetDeleteRequest.OffsetDeleteRequestTopic { Name = topic, Partitions = [new OffsetDeleteRequest.OffsetDeleteRequestPartition { PartitionIndex = partition }] }],
                };
            string api = whole ? "DeleteGroups" : "OffsetDelete";
            bool sent = Send(client, node, whole ? ApiKey.DeleteGroups : ApiKey.OffsetDelete, request, response =>
            {
                ErrorCode? error = response.Body switch
                {
                    DeleteGroupsResponse d => d.Results.FirstOrDefault()?.ErrorCode,
                    OffsetDeleteResponse o => o.ErrorCode != ErrorCode.None ? o.ErrorCode : o.Topics.FirstOrDefault()?.Partitions.FirstOrDefault()?.ErrorCode,
                    _ => null,
                };
                if (response.Status != ResponseStatus.Ok || error is null || IsAmbiguousError(error.Value) || IsCoordinatorError(error.Value))
                {
                    RetireGroup(g);
                    return;
                }
                Model.Count(api);
                g.InFlight = false;
                bool nothingCommitted = before.Values.All(s => s.Count == 1 && s.Contains(-1));
                if (error == ErrorCode.None || error == ErrorCode.GroupIdNotFound && (whole || nothingCommitted))
                {
                    foreach (var p in whole ? Enumerable.Range(0, partitions) : [partition]) g.Committed[p] = [-1];
                    return;
                }
                Model.Violation("model-" + (whole ? "delete-groups" : "offset-delete"), $"{api} v{response.Version} of {g.Name} answered {error}");
            });
            if (!sent) RetireGroup(g);
            return api.ToLowerInvariant() + " " + g.Name;
        }
        if (roll < 0.88)
        {
            var request = new DescribeGroupsRequest { Groups = [g.Name], IncludeAuthorizedOperations = _random.NextBool(0.5) };
            Send(client, node, ApiKey.DescribeGroups, request, response =>
            {
                if (response.Status != ResponseStatus.Ok) return;
                var d = ((DescribeGroupsResponse)response.Body!).Groups.FirstOrDefault();
                if (d is not null && (IsCoordinatorError(d.ErrorCode) || IsAmbiguousError(d.ErrorCode))) return;
                Model.Count("DescribeGroups");
                if (d is null || d.ErrorCode != ErrorCode.None || d.GroupId != g.Name || d.Members.Count > 0 || d.GroupState is not ("Empty" or "Dead"))
                    Model.Violation("model-describe-groups", $"DescribeGroups v{response.Version} of {g.Name} (no members ever) answered {d?.ErrorCode} state {d?.GroupState} with {d?.Members.Count} members");
            });
            return "describe-groups " + g.Name;
        }
        var list = new ListGroupsRequest();
        if (_random.NextBool(0.5)) list.StatesFilter = ["Empty"];
        Send(client, node, ApiKey.ListGroups, list, response =>
        {
            if (response.Status != ResponseStatus.Ok) return;
            var body = (ListGroupsResponse)response.Body!;
            if (IsCoordinatorError(body.ErrorCode) || IsAmbiguousError(body.ErrorCode)) return;
            Model.Count("ListGroups");
            // A group's protocol type is empty until its first member joins, so only the error is judged here.
            if (body.ErrorCode != ErrorCode.None)
                Model.Violation("model-list-groups", $"ListGroups v{response.Version} answered {body.ErrorCode}");
        });
        return "list-groups";
    }
}
