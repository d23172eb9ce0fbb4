using DetKafka.Sim;
using DetKafka.Sim.History;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Properties.Sim;

/// <summary>The main swarm with transactional producers (TRANSACTIONS.md, "What the simulator checks"): each seed's
/// drawn world and nemesis (crashes, network faults, pauses, disk faults), with every producer host running the
/// client's TransactionalProducer and every consumer at read_committed; the history checker judges the
/// transactions (G1a for aborted values read, G0/G1c, lost writes, duplicates) and the run must pass.</summary>
public sealed class TransactionalSwarmTests(ITestOutputHelper output)
{
    private const int Seeds = 30;

    internal static SimulationOptions Transactional(ulong seed)
    {
        var drawn = SimulationOptions.Draw(seed);
        return drawn with { Workload = SimulationOptions.Transactional(drawn.Workload) };
    }

    [Fact]
    public void Seeds_with_transactional_producers_pass_the_history_checker()
    {
        int committed = 0, aborted = 0, unknown = 0, passed = 0;
        var started = System.Diagnostics.Stopwatch.StartNew();
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            var r = Simulation.Run(seed, Transactional(seed));
            Assert.True(r.Passed, r.Summary() + " " + string.Join("; ", r.HistoryProblems));
            passed++;
            foreach (var op in r.History.Operations.Where(o => o.Kind == OpKind.Transaction))
            {
                if (op.Type == OpType.Ok) committed++;
                else if (op.Type == OpType.Fail) aborted++;
                else if (op.Type == OpType.Info) unknown++;
            }
        }
        output.WriteLine($"{passed} seeds in {started.ElapsedMilliseconds} ms: {committed} transactions committed, {aborted} aborted, {unknown} unknown");
        Assert.True(committed > 0 && aborted > 0, "the seeds committed and aborted transactions");
    }

    [Theory]
    [InlineData(DetKafka.Core.Transactions.TransactionFaults.SkipAbortMarkers, "G1a")]
    [InlineData(DetKafka.Core.Transactions.TransactionFaults.LsoIgnoresOpenTransactions, "G1a")]
    public void A_planted_transaction_bug_fails_the_swarm(DetKafka.Core.Transactions.TransactionFaults fault, string anomaly)
    {
        for (ulong seed = 1; seed <= 20; seed++)
        {
            var r = Simulation.Run(seed, Transactional(seed) with { TransactionFaults = fault });
            if (!r.Passed && r.HistoryProblems.Any(p => p.StartsWith(anomaly, StringComparison.Ordinal) || p.Contains(anomaly + " x", StringComparison.Ordinal)))
            {
                output.WriteLine($"{fault}: seed {seed}: {string.Join("; ", r.HistoryProblems.Take(2))}");
                return;
            }
        }
        Assert.Fail($"{fault} was not caught as {anomaly} in 20 seeds");
    }
}
