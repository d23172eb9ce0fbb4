using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Sim;

/// <summary>
/// Idempotence in the simulator: runs whose producers are idempotent forbid duplicates (and nonmonotonic sends),
/// pass under every fault, and go red within a bounded number of seeds when the broker's duplicate check is
/// planted out (<see cref="SimulationOptions.PlantedDuplicateBug"/>, a test-only switch).
/// </summary>
public class IdempotenceSimulationTests
{
    /// <summary>Seed <paramref name="seed"/>'s run with idempotent producers (all at acks=all) and network faults that
    /// make producers retry batches the broker may already have written.</summary>
    private static SimulationOptions Idempotent(ulong seed, bool plantBug)
    {
        var drawn = SimulationOptions.Draw(seed);
        var options = drawn with
        {
            PlantedDuplicateBug = plantBug,
            Workload = drawn.Workload with
            {
                Producers = drawn.Workload.Producers.Select(p => p with { Acks = -1, Idempotence = true, Retries = int.MaxValue }).ToList(),
            },
        };
        return options.Force(FaultKind.ConnectionReset, seed).Force(FaultKind.Loss, seed);
    }

    [Fact]
    public void A_third_of_the_swarm_draws_idempotent_producers_and_then_all_of_them_at_acks_all()
    {
        // Transactional draws (a quarter, issue 10) are idempotent by necessity: counted among the rest only.
        int idempotent = 0, plain = 0;
        for (ulong seed = 1; seed <= 300; seed++)
        {
            var producers = SimulationOptions.Draw(seed).Workload.Producers;
            if (producers.Any(p => p.Transactional)) continue;
            plain++;
            if (!producers.Any(p => p.Idempotence)) continue;
            idempotent++;
            Assert.All(producers, p => Assert.True(p.Idempotence && p.Acks == -1));
        }
        Assert.InRange(idempotent, plain / 3 - 25, plain / 3 + 25);
    }

    [Fact]
    public void Idempotent_producers_under_network_faults_write_every_value_once()
    {
        for (ulong seed = 1; seed <= 25; seed++)
        {
            var result = Simulation.Run(seed, Idempotent(seed, plantBug: false));
            Assert.True(result.Verdict == Verdict.Pass,
                $"seed {seed}: {result.Verdict} {string.Join("; ", result.HistoryProblems)} {result.FirstViolation}");
        }
    }

    [Fact]
    public void Without_the_brokers_duplicate_check_the_sweep_reports_duplicates()
    {
        for (ulong seed = 1; seed <= 40; seed++)
        {
            var result = Simulation.Run(seed, Idempotent(seed, plantBug: true));
            if (result.Verdict == Verdict.Pass) continue; // no retry of a written batch happened in this run
            Assert.Equal(Verdict.SafetyViolation, result.Verdict);
            Assert.Contains(result.HistoryProblems, p => p.StartsWith("forbidden anomalies:", StringComparison.Ordinal)
                && p.Contains("duplicate", StringComparison.Ordinal));
            return;
        }
        Assert.Fail("40 seeds with the duplicate check planted out all passed: the simulator cannot see duplicates");
    }
}
