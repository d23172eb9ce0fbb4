namespace DetKafka.Sim.Checkers;

/// <summary>The producer's <c>acks</c> setting, with Kafka's wire values.</summary>
public enum ProducerAcks
{
    /// <summary>acks=0: the producer does not wait for the broker; a send completes once it is handed over.</summary>
    None = 0,

    /// <summary>acks=1: the partition leader answers after its own append.</summary>
    Leader = 1,

    /// <summary>acks=all (-1): the leader answers once every in-sync replica has the write.</summary>
    All = -1,
}

/// <summary>The consumer's <c>isolation.level</c>, with Kafka's wire values.</summary>
public enum IsolationLevel
{
    /// <summary>Consumers see every record below the high watermark, aborted and open transactions included.</summary>
    ReadUncommitted = 0,

    /// <summary>Consumers see records below the last stable offset only, with aborted transactions filtered out.</summary>
    ReadCommitted = 1,
}

/// <summary>How the workload's consumers get their partitions.</summary>
public enum ConsumerMode
{
    /// <summary>Consumers assign themselves partitions; only an explicit Assign operation moves them.</summary>
    Assign,

    /// <summary>Consumers subscribe through a group; a rebalance may move a partition between any two polls.</summary>
    Subscribe,
}

/// <summary>
/// What a run promised. The checker finds every anomaly it can; these promises decide which of them are failures
/// (<see cref="Anomaly.Forbidden"/>) and which are reported for information only. docs/design/SIMULATION.md
/// ("History checker") has the full table.
/// </summary>
public sealed record CheckerOptions
{
    /// <summary>acks=all (and acks=1 when <see cref="LeaderAckIsDurable"/>) promise that an acknowledged write
    /// is never lost: lost-write and (with <see cref="FinalReadsComplete"/>) unseen are failures. acks=0 may lose
    /// writes but never invent them.</summary>
    public ProducerAcks Acks { get; init; } = ProducerAcks.All;

    /// <summary>With acks=1 the leader answers after its own append. On a single node that syncs before it answers
    /// (DetKafka's default) that is as strong as acks=all; set false where an acknowledged acks=1 write can still
    /// be lost (a leader that answers before syncing, or a failover to a replica that lacked it).</summary>
    public bool LeaderAckIsDurable { get; init; } = true;

    /// <summary>enable.idempotence: the broker deduplicates and orders one producer session's retries, so a value
    /// sent once by the workload lands at one offset, and a producer's sends to a partition never go backwards.</summary>
    public bool Idempotence { get; init; }

    /// <summary>Producers use transactions (Transaction operations; a Fail completion is an abort). Requires
    /// idempotence, as in Kafka.</summary>
    public bool Transactions { get; init; }

    /// <summary>The consumers' isolation level. read_committed forbids reading aborted or not-yet-committed
    /// transactional records (G1a on aborted writes, precommitted-read, and G1c made of read dependencies only).</summary>
    public IsolationLevel Isolation { get; init; } = IsolationLevel.ReadUncommitted;

    /// <summary>Assign: a consumer's consecutive polls of a partition must continue where the last one stopped, unless
    /// an Assign operation came between. Subscribe: a rebalance may move partitions at any time, so poll-skip and
    /// nonmonotonic-poll between polls are expected.</summary>
    public ConsumerMode Consumers { get; init; } = ConsumerMode.Assign;

    /// <summary>The run ended with a liveness phase in which consumers read every partition to its end after faults
    /// stopped. Only then is an acknowledged write that no poll ever read (unseen) a failure.</summary>
    public bool FinalReadsComplete { get; init; }

    /// <summary>How many anomalies of one name (and one verdict) keep their details in <see cref="CheckResult.Anomalies"/>;
    /// every instance is still counted. Keeps reports of badly broken million-operation histories small.</summary>
    public int MaxReportedPerName { get; init; } = 100;

    /// <summary>True when an acknowledged (Ok) send must survive: acks=all, or acks=1 with a durable leader ack.</summary>
    public bool AcknowledgedWritesDurable =>
        Acks == ProducerAcks.All || (Acks == ProducerAcks.Leader && LeaderAckIsDurable);

    /// <summary>Rejects configurations a Kafka client refuses: idempotence needs acks=all, transactions need idempotence.</summary>
    public void Validate()
    {
        if (Idempotence && Acks != ProducerAcks.All)
            throw new ArgumentException("idempotence requires acks=all, as the Kafka producer enforces");
        if (Transactions && !Idempotence)
            throw new ArgumentException("transactions require idempotence, as the Kafka producer enforces");
        if (MaxReportedPerName < 0)
            throw new ArgumentException("MaxReportedPerName must not be negative");
    }

    /// <summary>
    /// The anomaly names of which at least some instances fail a run under these promises. Some are conditional per
    /// instance (see SIMULATION.md): inconsistent-offsets where writes may be lost, nonmonotonic-send after an
    /// unacknowledged send without idempotence, int-poll-* across the polls of one transaction when subscribed,
    /// duplicate of a value the workload itself sent twice, G1a on an aborted transaction at read_uncommitted.
    /// </summary>
    public IReadOnlyList<string> ForbiddenAnomalies
    {
        get
        {
            var names = new List<string>
            {
                AnomalyNames.InventedValue, AnomalyNames.InconsistentOffsets, AnomalyNames.NonmonotonicSend,
                AnomalyNames.IntPollSkip, AnomalyNames.IntNonmonotonicPoll, AnomalyNames.G1a,
            };
            if (Idempotence) names.AddRange([AnomalyNames.Duplicate, AnomalyNames.IntNonmonotonicSend]);
            if (AcknowledgedWritesDurable) names.Add(AnomalyNames.LostWrite);
            if (AcknowledgedWritesDurable && FinalReadsComplete) names.Add(AnomalyNames.Unseen);
            if (Consumers == ConsumerMode.Assign) names.AddRange([AnomalyNames.PollSkip, AnomalyNames.NonmonotonicPoll]);
            if (Isolation == IsolationLevel.ReadCommitted) names.AddRange([AnomalyNames.PrecommittedRead, AnomalyNames.G1c]);
            names.Sort(StringComparer.Ordinal);
            return names;
        }
    }
}
