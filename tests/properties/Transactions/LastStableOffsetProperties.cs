using DetKafka.Core.Storage;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Transactions;

/// <summary>
/// The last stable offset and the aborted-transaction list (<see cref="PartitionTransactions"/>) against a naive
/// model recomputed from the whole log every time: random logs of transactional and plain batches of a few
/// producers, commit and abort markers (some with nothing to end), and a high watermark that moves forward.
/// </summary>
public sealed class LastStableOffsetProperties
{
    private enum Kind { Plain, TxnData, Commit, Abort }

    private sealed record Entry(long Offset, long ProducerId, Kind Kind);

    /// <summary>The model: a producer's transaction starts at its first transactional batch after its previous marker
    /// and ends at the next marker. LSO = the smallest start of a transaction whose marker is missing or not below
    /// the high watermark, capped by the high watermark.</summary>
    private static (long Lso, List<AbortedTransaction> Aborted) Model(List<Entry> log, long hw)
    {
        var open = new Dictionary<long, long>();
        var txns = new List<(long Pid, long First, long? Marker, bool Abort)>();
        foreach (var e in log)
        {
            if (e.Kind == Kind.TxnData) open.TryAdd(e.ProducerId, e.Offset);
            else if (e.Kind is Kind.Commit or Kind.Abort && open.Remove(e.ProducerId, out long first))
                txns.Add((e.ProducerId, first, e.Offset, e.Kind == Kind.Abort));
        }
        foreach (var (pid, first) in open) txns.Add((pid, first, null, false));
        long lso = hw;
        foreach (var t in txns)
            if (t.Marker is null || t.Marker >= hw) lso = Math.Min(lso, t.First);
        var aborted = txns.Where(t => t.Abort).Select(t => new AbortedTransaction(t.Pid, t.First, t.Marker!.Value)).OrderBy(a => a.LastOffset).ToList();
        return (lso, aborted);
    }

    [Fact]
    public void Lso_and_aborted_index_match_the_model()
    {
        var step = Gen.Choose(0, 3).SelectMany(kind => Gen.Choose(0, 3).SelectMany(pid => Gen.Choose(0, 4).Select(hwStep => (kind, pid, hwStep))));
        ForAll(step.ListOf(), steps =>
        {
            var state = new PartitionTransactions();
            var log = new List<Entry>();
            long hw = 0;
            foreach (var (kind, pid, hwStep) in steps)
            {
                long offset = log.Count;
                var k = (Kind)kind;
                log.Add(new Entry(offset, pid, k));
                if (k == Kind.TxnData) state.OnTransactionalData(pid, offset);
                else if (k is Kind.Commit or Kind.Abort) state.OnMarker(pid, k == Kind.Commit, 0, offset);
                hw = Math.Min(log.Count, hw + hwStep); // the high watermark trails the end, never goes back
                var (lso, aborted) = Model(log, hw);
                Assert.Equal(lso, state.LastStableOffset(hw));
                Assert.Equal(aborted, state.Aborted.ToList());
                // Every window a fetch could ask about.
                for (long from = 0; from <= log.Count; from += 3)
                {
                    var expected = aborted.Where(a => a.LastOffset >= from && a.FirstOffset < lso).ToList();
                    Assert.Equal(expected, state.AbortedIn(from, lso));
                }
            }
            // The LSO never passes the high watermark nor an undecided transaction's start.
            Assert.True(state.LastStableOffset(hw) <= hw);
        }, maxTest: 200);
    }

    [Fact]
    public void Retention_forgets_only_aborted_transactions_below_the_log_start()
    {
        var state = new PartitionTransactions();
        state.OnTransactionalData(1, 0);
        state.OnMarker(1, commit: false, 0, 2);
        state.OnTransactionalData(2, 3);
        state.OnMarker(2, commit: false, 0, 5);
        state.RemoveBelow(3);
        Assert.Equal([new AbortedTransaction(2, 3, 5)], state.Aborted.ToList());
    }

    [Fact]
    public void A_stale_coordinator_epoch_is_fenced_per_producer()
    {
        var state = new PartitionTransactions();
        state.OnMarker(7, commit: true, 5, 0);
        Assert.Equal(DetKafka.Core.Protocol.ErrorCode.TransactionCoordinatorFenced, state.CheckMarker(7, 4));
        Assert.Equal(DetKafka.Core.Protocol.ErrorCode.None, state.CheckMarker(7, 5));
        Assert.Equal(DetKafka.Core.Protocol.ErrorCode.None, state.CheckMarker(8, 0));
        Assert.Equal(5, state.LargestCoordinatorEpoch);
    }
}
