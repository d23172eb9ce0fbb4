namespace DetKafka.Sim.Checkers;

/// <summary>
/// The anomaly names a <see cref="HistoryChecker"/> reports. All but <see cref="InventedValue"/> are Jepsen's names
/// from its Kafka workload, spelled exactly as Jepsen spells them so findings can be compared with its reports.
/// </summary>
public static class AnomalyNames
{
    public const string LostWrite = "lost-write";
    public const string Unseen = "unseen";
    public const string Duplicate = "duplicate";
    public const string InconsistentOffsets = "inconsistent-offsets";
    public const string NonmonotonicSend = "nonmonotonic-send";
    public const string NonmonotonicPoll = "nonmonotonic-poll";
    public const string PollSkip = "poll-skip";
    public const string IntSendSkip = "int-send-skip";
    public const string IntNonmonotonicSend = "int-nonmonotonic-send";
    public const string IntPollSkip = "int-poll-skip";
    public const string IntNonmonotonicPoll = "int-nonmonotonic-poll";
    public const string G1a = "G1a";
    public const string PrecommittedRead = "precommitted-read";
    public const string G0 = "G0";
    public const string G1c = "G1c";

    /// <summary>A poll read a value no operation ever sent to that partition. Jepsen stops with an exception
    /// there (no writer of a value); here it is an anomaly of its own, forbidden under every configuration,
    /// so an acks=0 run (which may lose writes) still catches a broker that makes data up.</summary>
    public const string InventedValue = "invented-value";

    public static readonly IReadOnlyList<string> All =
    [
        LostWrite, Unseen, Duplicate, InconsistentOffsets, NonmonotonicSend, NonmonotonicPoll, PollSkip,
        IntSendSkip, IntNonmonotonicSend, IntPollSkip, IntNonmonotonicPoll, G1a, PrecommittedRead, G0, G1c,
        InventedValue,
    ];
}
