using DetKafka.Core.Protocol;

namespace DetKafka.Core.Transactions;

/// <summary>
/// One transactional id as its coordinator holds it (Kafka's TransactionMetadata). Changes are made on a copy
/// (<see cref="ToRecord"/>), written to <c>__transaction_state</c>, and applied only once durable; meanwhile
/// <see cref="PendingWrite"/> makes every other request for the id wait (CONCURRENT_TRANSACTIONS).
/// </summary>
public sealed class TransactionMetadata(string transactionalId)
{
    public string TransactionalId { get; } = transactionalId;
    public long ProducerId { get; set; } = -1;
    public short ProducerEpoch { get; set; } = -1;
    /// <summary>The epoch before the coordinator last bumped it on its own (a fence or a timeout), so the
    /// fenced producer's InitProducerId v3+ with its old epoch still recovers (KIP-360).</summary>
    public short LastProducerEpoch { get; set; } = -1;
    /// <summary>KIP-890 part 2: the producer id before the last change of id (a retried EndTxn of the
    /// transaction that exhausted the epoch names it), -1 when none.</summary>
    public long PreviousProducerId { get; set; } = -1;
    /// <summary>KIP-890 part 2: the producer id a prepared transaction that exhausted the epoch moves to (at
    /// epoch 0) once its markers are written; -1 when none.</summary>
    public long NextProducerId { get; set; } = -1;
    /// <summary>2 when the last EndTxn came at v5 (the epoch is bumped at every transaction, and a retried EndTxn
    /// carries the epoch before the bump), else 0.</summary>
    public short ClientTransactionVersion { get; set; }
    public bool BumpsEpochPerTransaction => ClientTransactionVersion >= 2;
    public int TimeoutMs { get; set; }
    public TxnState State { get; set; } = TxnState.Empty;
    public SortedSet<TopicPartition> Partitions { get; } = new();
    public long StartTimestampMs { get; set; } = -1;
    public long LastUpdateTimestampMs { get; set; } = -1;
    public bool PendingWrite { get; set; }
    /// <summary>Markers being written for a Prepare* state (so a second pass is not started).</summary>
    public bool WritingMarkers { get; set; }

    public TxnRecord ToRecord() => new(ProducerId, ProducerEpoch, TimeoutMs, State, Partitions.ToList(),
        LastUpdateTimestampMs, StartTimestampMs, PreviousProducerId, NextProducerId, ClientTransactionVersion);

    public void Apply(TxnRecord r)
    {
        ProducerId = r.ProducerId;
        ProducerEpoch = r.ProducerEpoch;
        TimeoutMs = r.TimeoutMs;
        State = r.State;
        Partitions.Clear();
        foreach (var tp in r.Partitions) Partitions.Add(tp);
        LastUpdateTimestampMs = r.LastUpdateTimestampMs;
        StartTimestampMs = r.StartTimestampMs;
        PreviousProducerId = r.PreviousProducerId;
        NextProducerId = r.NextProducerId;
        ClientTransactionVersion = r.ClientTransactionVersion;
    }

    public static string StateName(TxnState s) => s.ToString();
}
