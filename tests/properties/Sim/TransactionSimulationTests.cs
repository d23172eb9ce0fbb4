using DetKafka.Core.Transactions;
using DetKafka.Sim.Transactions;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Properties.Sim;

/// <summary>The transactional simulation (TRANSACTIONS.md, "What the simulator checks"): a bounded sweep of seeds
/// passes every check, and each planted bug turns it red within a bounded number of seeds, on the check meant to
/// catch it.</summary>
public sealed class TransactionSimulationTests(ITestOutputHelper output)
{
    private const int CleanSeeds = 200;
    private const int SeedsToCatch = 20;

    [Fact]
    public void A_sweep_of_seeds_passes_every_check()
    {
        int crashes = 0, committed = 0, aborted = 0, undecided = 0, refused = 0;
        for (ulong seed = 1; seed <= CleanSeeds; seed++)
        {
            var r = TransactionSimulation.Run(seed);
            Assert.True(r.IsValid, $"seed {seed}: {r.Summary()}");
            crashes += r.Crashes;
            committed += r.Committed;
            aborted += r.Aborted;
            undecided += r.Undecided;
            refused += r.LateProducesRefused;
        }
        output.WriteLine($"{CleanSeeds} seeds: {committed} committed, {aborted} aborted, {undecided} decided by recovery, {crashes} crashes, {refused} late produces refused");
        Assert.True(crashes > 0 && aborted > 0 && undecided > 0 && refused > 0, "the sweep exercised crashes, aborts, recovery and late produces");
    }

    [Theory]
    [InlineData(TransactionFaults.LsoIgnoresOpenTransactions, "uncommitted-read")]
    [InlineData(TransactionFaults.SkipAbortMarkers, "aborted-read")]
    [InlineData(TransactionFaults.SkipProduceVerification, "late-write-visible")]
    [InlineData(TransactionFaults.ApplyPendingOffsetsOnAbort, "offset-not-exactly-once")]
    [InlineData(TransactionFaults.ReadCommittedIgnoresLso, "read-above-lso")]
    public void A_planted_bug_is_caught_within_a_bounded_number_of_seeds(TransactionFaults fault, string check)
    {
        for (ulong seed = 1; seed <= SeedsToCatch; seed++)
        {
            var r = TransactionSimulation.Run(seed, new TransactionSimOptions { Faults = fault });
            if (r.Violations.ContainsKey(check))
            {
                output.WriteLine($"{fault}: seed {seed}: {r.Summary()}");
                return;
            }
        }
        Assert.Fail($"{fault} was not caught by {check} in {SeedsToCatch} seeds");
    }

    [Fact]
    public void Retries_written_twice_are_caught_as_duplicates()
    {
        for (ulong seed = 1; seed <= SeedsToCatch; seed++)
        {
            var r = TransactionSimulation.Run(seed, new TransactionSimOptions { IgnoreProducerSequences = true });
            if (r.Violations.ContainsKey("duplicate"))
            {
                output.WriteLine($"IgnoreProducerSequences: seed {seed}: {r.Summary()}");
                return;
            }
        }
        Assert.Fail($"duplicates were not caught in {SeedsToCatch} seeds");
    }

    [Fact]
    public void The_same_seed_gives_the_same_run()
    {
        var a = TransactionSimulation.Run(7);
        var b = TransactionSimulation.Run(7);
        Assert.Equal(a.Summary(), b.Summary());
    }
}
