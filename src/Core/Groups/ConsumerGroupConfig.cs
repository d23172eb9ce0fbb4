namespace DetKafka.Core.Groups;

/// <summary>The KIP-848 consumer group settings, named after Kafka's broker configs (group.consumer.*).</summary>
public sealed class ConsumerGroupConfig
{
    /// <summary>group.consumer.session.timeout.ms: a member without a heartbeat for this long is removed.</summary>
    public int SessionTimeoutMs { get; init; } = 45_000;

    /// <summary>group.consumer.heartbeat.interval.ms: told to members in every heartbeat answer.</summary>
    public int HeartbeatIntervalMs { get; init; } = 5_000;

    /// <summary>group.consumer.max.size: members at most (GROUP_MAX_SIZE_REACHED past it).</summary>
    public int MaxSize { get; init; } = 1_000;

    /// <summary>group.consumer.assignors: the server-side assignors a member may ask for; the first is the
    /// default.</summary>
    public IReadOnlyList<string> Assignors { get; init; } = [ConsumerGroupAssignors.UniformName, ConsumerGroupAssignors.RangeName];
}
