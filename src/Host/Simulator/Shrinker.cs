using System.Globalization;
using DetKafka.Sim;

namespace DetKafka.Host.Simulator;

/// <summary>
/// Seed shrinking (SIMULATION.md, "Shrinking"): greedily removes what a failing run does not need (each enabled
/// fault, producer and consumer hosts, the consumer group, half of the safety phase at a time) and keeps each
/// reduction under which the same violation (same verdict and checker) still appears. Every candidate is a
/// complete, replayable setting: the result's <see cref="SimSettings.ReplayCommand"/> reproduces it.
/// </summary>
public static class Shrinker
{
    /// <summary>Runs tried at most (each a whole simulation).</summary>
    public const int RunsMax = 200;

    public sealed record Outcome(SimSettings Settings, SimulationResult Result, int Runs);

    public static Outcome? Shrink(ulong seed, SimSettings settings, Action<string>? log = null)
    {
        log ??= _ => { };
        var first = Simulation.Run(seed, settings.OptionsFor(seed));
        int runs = 1;
        if (first.Passed || first.FirstViolation is not { } target)
        {
            log($"seed {seed} passes with{(settings.Flags.Length > 0 ? settings.Flags : " the drawn options")}: nothing to shrink");
            return null;
        }
        log($"seed {seed}: {first.Verdict} [{target.Checker}] at {first.VirtualTimeMs} ms virtual, {first.Events} events");
        var best = settings;
        var bestResult = first;

        bool Try(SimSettings candidate, string what)
        {
            if (runs >= RunsMax) return false;
            var r = Simulation.Run(seed, candidate.OptionsFor(seed));
            runs++;
            bool same = r.Verdict == first.Verdict && r.FirstViolation?.Checker == target.Checker;
            if (!same) return false;
            best = candidate;
            bestResult = r;
            log($"  {what}: still [{target.Checker}] ({r.Events} events, {r.VirtualTimeMs} ms virtual)");
            return true;
        }

        bool progress = true;
        while (progress && runs < RunsMax)
        {
            progress = false;
            foreach (var kind in best.OptionsFor(seed).EnabledFaults)
                if (!best.Forced.Contains(kind) && Try(best with { Disabled = best.Disabled.Append(kind).Distinct().Order().ToList() }, "without " + FaultNames.Name(kind)))
                    progress = true;
            var options = best.OptionsFor(seed);
            if (options.Workload.Group is not null && Try(best with { NoGroup = true }, "without the consumer group")) progress = true;
            for (int p = options.Workload.Producers.Count - 1; p >= 1; p--)
                if (Try(best with { Producers = p }, $"{p} producer host{(p == 1 ? "" : "s")}")) progress = true;
                else break;
            for (int c = options.Workload.Consumers.Count - 1; c >= 1; c--)
                if (Try(best with { Consumers = c }, $"{c} consumer host{(c == 1 ? "" : "s")}")) progress = true;
                else break;
            long safety = best.OptionsFor(seed).SafetyPhaseMs;
            while (safety > 200 && Try(best with { SafetyPhaseMs = safety / 2 }, string.Create(CultureInfo.InvariantCulture, $"safety phase {safety / 2} ms")))
            {
                safety /= 2;
                progress = true;
            }
        }
        log($"smallest reproduction after {runs} runs: {bestResult.Verdict} - {bestResult.FirstViolation}");
        log($"  faults: [{string.Join(",", bestResult.Options.EnabledFaults.Select(FaultNames.Name))}], {bestResult.Options.Workload.Producers.Count} producer hosts, "
            + $"{bestResult.Options.Workload.Consumers.Count} consumer hosts, group {(bestResult.Options.Workload.Group is null ? "none" : "yes")}, "
            + $"safety phase {bestResult.Options.SafetyPhaseMs} ms, {bestResult.Events} events, {bestResult.VirtualTimeMs} ms virtual");
        log("replay: " + best.ReplayCommand(seed));
        return new Outcome(best, bestResult, runs);
    }
}
