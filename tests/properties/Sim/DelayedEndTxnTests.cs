using DetKafka.Core.Transactions;
using DetKafka.Sim;
using DetKafka.Sim.History;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Properties.Sim;

/// <summary>KIP-890 part 2 in the swarm (TRANSACTIONS.md, "The epoch bump per transaction"): the delayed-end-txn
/// fault delivers a stale copy of a client's EndTxn just before its next EndTxn, when the next transaction is open
/// with its records written. With the bump (EndTxn v5) every copy is fenced and the seeds pass; with the bump
/// skipped (the planted TransactionFaults.SkipEndTxnEpochBump) a copy of a commit ends a transaction its producer
/// meant to abort, and the history checker names it G1a.</summary>
public sealed class DelayedEndTxnTests(ITestOutputHelper output)
{
    private const int Seeds = 30;

    /// <summary>Within this many seeds the planted bug must be caught.</summary>
    private const int CatchWithin = 10;

    internal static SimulationOptions WithDelayedEndTxn(ulong seed)
    {
        var o = TransactionalSwarmTests.Transactional(seed);
        // Every EndTxn has a stale copy, held 1-3 s (seed 147 of the async16 sweep: 2.8 s).
        return o.WithFault(FaultKind.DelayedEndTxn, new FaultSpec(true, 0, 0, 1_000 + (long)(seed % 3) * 1_000, 1.0));
    }

    [Fact]
    public void Seeds_with_delayed_EndTxn_copies_pass()
    {
        long delivered = 0;
        int committed = 0, aborted = 0;
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            var r = Simulation.Run(seed, WithDelayedEndTxn(seed));
            Assert.True(r.Passed, $"seed {seed}: " + r.Summary() + " " + string.Join("; ", r.HistoryProblems));
            delivered += r.Counters.GetValueOrDefault("fault.delayed-end-txn.delivered");
            committed += r.History.Operations.Count(o => o.Kind == OpKind.Transaction && o.Type == OpType.Ok);
            aborted += r.History.Operations.Count(o => o.Kind == OpKind.Transaction && o.Type == OpType.Fail);
        }
        output.WriteLine($"{Seeds} seeds: {delivered} stale EndTxn copies delivered, {committed} transactions committed, {aborted} failed or aborted");
        Assert.True(delivered > Seeds, "the fault delivered stale EndTxn copies");
    }

    [Fact]
    public void Skipping_the_epoch_bump_is_caught_as_G1a()
    {
        for (ulong seed = 1; seed <= CatchWithin; seed++)
        {
            var r = Simulation.Run(seed, WithDelayedEndTxn(seed) with { TransactionFaults = TransactionFaults.SkipEndTxnEpochBump });
            if (!r.Passed && r.HistoryProblems.Any(p => p.Contains("G1a", StringComparison.Ordinal)))
            {
                output.WriteLine($"caught at seed {seed}: {string.Join("; ", r.HistoryProblems.Take(2))}");
                return;
            }
            output.WriteLine($"seed {seed}: {(r.Passed ? "passed" : r.Summary())}");
        }
        Assert.Fail($"SkipEndTxnEpochBump was not caught as G1a in {CatchWithin} seeds");
    }
}
