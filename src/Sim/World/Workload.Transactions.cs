using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Sim.History;
using DetKafka.Sim.Trace;

namespace DetKafka.Sim.World;

// Transactional producer hosts (ProducerSpec.Transactional; TRANSACTIONS.md, "What the simulator checks"): each
// worker process owns a TransactionalProducer (transactional.id "tx-<slot>-<worker>", the same after a restart, so
// the host's next process fences the one that crashed) and runs transactions of 1-3 sends of unique values. Each
// is one Transaction operation: Invoke with its sends, then Ok with every offset (committed), Fail (aborted:
// never visible at read_committed; also a transaction that failed before its producer ever sent EndTxn(commit)) or
// Info (unknown: a crash, or an error after a commit was sent).
// A fifth of them abort on purpose, half of those after their records were written (Flush), so the history
// checker's G1a has aborted values to catch.
public sealed partial class Workload
{
    private sealed class TransactionalWorker(TransactionalProducer producer)
    {
        public TransactionalProducer Producer = producer;
        public bool Initializing;
        public List<SendOp> Sends = new();
    }

    private readonly Dictionary<Worker, TransactionalWorker> _transactional = new();

    private void StartTransactional(ClientHost host, KafkaClient client, HostState state)
    {
        for (int i = 0; i < state.Workers.Count; i++)
            _transactional[state.Workers[i]] = new TransactionalWorker(NewTransactionalProducer(host, client, i));
    }

    private static TransactionalProducer NewTransactionalProducer(ClientHost host, KafkaClient client, int worker)
        => new(client, new TransactionalProducerOptions
        {
            TransactionalId = string.Create(CultureInfo.InvariantCulture, $"tx-{host.Slot}-{worker}"),
            TransactionTimeoutMs = 60_000,
        });

    private TraceDetails InvokeTransaction(ClientHost host, int incarnation, Worker worker, TransactionalWorker tw)
    {
        var p = tw.Producer;
        if (p.State == TransactionalProducerState.Fenced || (p.State == TransactionalProducerState.NeedsAbort && !worker.Pending))
        {
            // Fenced (a transaction timed out while the node was unreachable), or left needing an abort after the
            // abort itself failed with a fatal error (INVALID_TXN_STATE, fatal in Kafka's producer; sim seed 147: a
            // stale EndTxn(commit) from an earlier connection, delivered late, committed the next transaction before
            // its records were sent; with EndTxn v5's epoch bump that stale EndTxn is now fenced, and the
            // delayed-end-txn fault makes it happen on purpose): the application starts a new instance of its
            // producer, as Kafka's docs tell it to. Without this the worker waited forever for a state no call of its
            // own could leave.
            int index = StateOf(host).Workers.IndexOf(worker);
            tw.Producer = p = NewTransactionalProducer(host, host.Client!, index);
        }
        if (p.State == TransactionalProducerState.Uninitialized)
        {
            if (tw.Initializing) return null;
            tw.Initializing = true;
            p.InitTransactions(error =>
            {
                tw.Initializing = false;
                if (host.Incarnation != incarnation) return;
                _world.Note(host.Name, "txn-init", $"p{worker.Process} {p.Options.TransactionalId} {error} pid {p.ProducerId} epoch {p.ProducerEpoch}");
                ScheduleInvoke(host, worker, _world.NowUs + ThinkUs());
            });
            _world.ClientInput(host, _ => { });
            return _world.Details($"p{worker.Process} init transactions");
        }
        if (p.State != TransactionalProducerState.Ready)
        {
            ScheduleInvoke(host, worker, _world.NowUs + ThinkUs());
            return null;
        }
        int count = Random.NextInt(1, 4);
        tw.Sends = new List<SendOp>(count);
        p.BeginTransaction();
        for (int i = 0; i < count; i++)
        {
            long value = ++_nextValue;
            var tp = new TopicPartition(Options.Topic, Random.NextInt(0, Options.Partitions));
            tw.Sends.Add(new SendOp(tp, value, null));
            var bytes = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(bytes, value);
            p.Send(tp, Encoding.UTF8.GetBytes("p" + worker.Process.ToString(CultureInfo.InvariantCulture)), bytes, host.Clock.WallClockMs);
        }
        worker.Pending = true;
        worker.PendingPartition = tw.Sends[0].Partition;
        worker.PendingValue = tw.Sends[0].Value;
        HistoryLog.Add(worker.Process, OpType.Invoke, OpKind.Transaction, _world.NowMs, tw.Sends.ToList());
        var sends = tw.Sends;
        double roll = Random.NextDouble();
        // A transaction the producer never asked to commit cannot commit, whatever became of its abort (refused,
        // timed out, or the coordinator ended it by a fence or a timeout): Fail, so any of its records read at
        // read_committed is G1a. This is how a delayed EndTxn(commit) of an earlier transaction applied to this one
        // shows (KIP-890 part 2; the delayed-end-txn fault). Once a commit was sent the outcome is unknown (Info).
        OpType Unsuccessful() => p.CommitRequested ? OpType.Info : OpType.Fail;
        void Abort(string why) => p.AbortTransaction(e => Complete(host, incarnation, worker, sends, e == ErrorCode.None ? OpType.Fail : Unsuccessful(),
            null, why + (e == ErrorCode.None ? "" : "; abort " + e)));
        if (roll < 0.1) Abort("aborted before sending");
        else if (roll < 0.2)
            p.Flush(e =>
            {
                if (host.Incarnation != incarnation) return;
                if (e == ErrorCode.None || p.State == TransactionalProducerState.NeedsAbort) Abort("aborted after its records were written");
                else Complete(host, incarnation, worker, sends, Unsuccessful(), null, "flush " + e);
            });
        else
            p.CommitTransaction(e =>
            {
                if (host.Incarnation != incarnation) return;
                if (e == ErrorCode.None) Complete(host, incarnation, worker, sends, OpType.Ok, p.LastBatchOffsets, null);
                else if (p.State == TransactionalProducerState.NeedsAbort) Abort("commit failed: " + e);
                else Complete(host, incarnation, worker, sends, Unsuccessful(), null, "commit " + e);
            });
        _world.ClientInput(host, _ => { });
        return _world.Details($"p{worker.Process} transaction of {count} ({string.Join(",", sends.Select(s => s.Value))})");
    }

    private void Complete(ClientHost host, int incarnation, Worker worker, List<SendOp> sends, OpType type,
        IReadOnlyDictionary<TopicPartition, long>? baseOffsets, string? error)
    {
        if (host.Incarnation != incarnation || !worker.Pending) return;
        worker.Pending = false;
        var completed = sends;
        if (type == OpType.Ok)
        {
            // One batch per partition, records in send order: each record's offset follows its batch's base.
            var next = new Dictionary<TopicPartition, long>(baseOffsets!);
            completed = sends.Select(s => s with { Offset = next[s.Partition]++ }).ToList();
        }
        HistoryLog.Add(worker.Process, type, OpKind.Transaction, _world.NowMs, completed.ToList(), error);
        if (_world.InLivenessPhase && type == OpType.Ok) worker.LivenessCompleted++;
        _world.Note(host.Name, "txn-" + type.ToString().ToLowerInvariant(),
            $"p{worker.Process} {string.Join(",", completed.Select(s => $"{s.Value}@{s.Partition.Partition}{(s.Offset is { } o ? ":" + o.ToString(CultureInfo.InvariantCulture) : "")}"))}{(error is null ? "" : " " + error)}");
        ScheduleInvoke(host, worker, _world.NowUs + ThinkUs());
    }

    /// <summary>A crash of a transactional worker's process: its transaction in flight completes as Info.</summary>
    private bool OnCrashTransactional(Worker worker)
    {
        if (!_transactional.Remove(worker, out var tw)) return false;
        if (worker.Pending)
        {
            worker.Pending = false;
            HistoryLog.Add(worker.Process, OpType.Info, OpKind.Transaction, _world.NowMs, tw.Sends.ToList(), "client crashed");
        }
        return true;
    }
}
