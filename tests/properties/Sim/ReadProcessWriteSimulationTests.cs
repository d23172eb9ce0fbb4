using DetKafka.Core.Transactions;
using DetKafka.Sim.Transactions;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Properties.Sim;

/// <summary>The read-process-write simulation (TRANSACTIONS.md, "What the simulator checks"): a bounded sweep of
/// seeds passes every check (exactly-once output counts, G0, G1a, G1b, G1c, ...) with every fault drawn, and each
/// planted bug turns it red within a bounded number of seeds on the check meant to catch it.</summary>
public sealed class ReadProcessWriteSimulationTests(ITestOutputHelper output)
{
    private const int CleanSeeds = 300;
    private const int SeedsToCatch = 30;

    [Fact]
    public void A_sweep_of_seeds_passes_every_check()
    {
        int crashes = 0, prepared = 0, held = 0, committed = 0, aborted = 0, undecided = 0, refused = 0, stale = 0, outputs = 0;
        var started = System.Diagnostics.Stopwatch.StartNew();
        for (ulong seed = 1; seed <= CleanSeeds; seed++)
        {
            var r = TransactionSimulation.RunReadProcessWrite(seed);
            Assert.True(r.IsValid, $"seed {seed}: {r.Summary()}");
            crashes += r.Crashes;
            prepared += r.CrashesBetweenPrepareAndMarkers;
            held += r.HeldMarkersReleased;
            committed += r.Committed;
            aborted += r.Aborted;
            undecided += r.Undecided;
            refused += r.LateProducesRefused;
            stale += r.StaleMarkersDelivered;
            outputs += r.ExactlyOnceOutputs;
        }
        output.WriteLine($"{CleanSeeds} seeds in {started.ElapsedMilliseconds} ms: {committed} committed, {aborted} aborted, {undecided} decided by recovery, " +
                         $"{crashes} crashes ({prepared} between prepare and markers), {refused} delayed produces refused, {held} held-back markers applied late, {stale} stale markers refused, {outputs} inputs with exactly one output");
        Assert.True(crashes > 0 && prepared > 0 && aborted > 0 && undecided > 0 && refused > 0 && stale > 0 && held > 0 && outputs > 0,
            "the sweep exercised crashes (also between prepare and markers), aborts, recovery, delayed produces, stale markers and exactly-once outputs");
    }

    [Theory]
    [InlineData(TransactionFaults.SkipAbortMarkers, false, "G1a")]
    [InlineData(TransactionFaults.LsoIgnoresOpenTransactions, false, "G1b")]
    [InlineData(TransactionFaults.LsoIgnoresOpenTransactions, false, "G1c")]
    [InlineData(TransactionFaults.None, true, "G0")]
    [InlineData(TransactionFaults.ApplyPendingOffsetsOnAbort, false, "output-not-exactly-once")]
    [InlineData(TransactionFaults.AcceptStaleMarkers, false, "delayed-marker-applied")]
    [InlineData(TransactionFaults.CompleteBeforeMarkers, false, "G1a")]
    public void A_planted_bug_is_caught_within_a_bounded_number_of_seeds(TransactionFaults fault, bool ignoreSequences, string check)
    {
        for (ulong seed = 1; seed <= SeedsToCatch; seed++)
        {
            var r = TransactionSimulation.RunReadProcessWrite(seed, new TransactionSimOptions { Faults = fault, IgnoreProducerSequences = ignoreSequences });
            if (r.Violations.ContainsKey(check))
            {
                output.WriteLine($"{fault}{(ignoreSequences ? " + IgnoreProducerSequences" : "")}: {check} at seed {seed}: {r.Summary()}");
                return;
            }
        }
        Assert.Fail($"{fault} was not caught by {check} in {SeedsToCatch} seeds");
    }

    [Fact]
    public void The_same_seed_gives_the_same_run()
    {
        var a = TransactionSimulation.RunReadProcessWrite(7);
        var b = TransactionSimulation.RunReadProcessWrite(7);
        Assert.Equal(a.Summary(), b.Summary());
    }
}
