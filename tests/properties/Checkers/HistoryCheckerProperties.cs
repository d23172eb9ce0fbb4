using DetKafka.Core.Protocol;
using DetKafka.Sim.Checkers;
using DetKafka.Sim.History;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Properties.Checkers;

public class HistoryCheckerProperties(ITestOutputHelper output)
{
    private static Gen<(Scenario Scenario, CheckerOptions Options)> Runs =>
        from scenario in Scenario.Gen
        from idempotence in Gen.Elements(false, true)
        from consumers in Gen.Elements(ConsumerMode.Assign, ConsumerMode.Subscribe)
        select (scenario, new CheckerOptions { Idempotence = idempotence, Consumers = consumers, FinalReadsComplete = true });

    [Fact]
    public void A_correct_history_always_passes()
    {
        Prop.ForAll(Arb.From(Runs), run =>
        {
            var model = CorrectHistory.Build(run.Scenario);
            var result = HistoryChecker.Check(model.History, run.Options);
            Assert.True(result.IsValid, result.Summary());
            // Nothing a correct single-log broker does is even informational here, except writes interleaving.
            Assert.All(result.Counts.Keys, name => Assert.Equal(AnomalyNames.IntSendSkip, name));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Dropping_a_read_value_everywhere_is_a_lost_write()
    {
        int exercised = 0, runs = 0;
        Prop.ForAll(Arb.From(Runs), run =>
        {
            runs++;
            var model = CorrectHistory.Build(run.Scenario);
            var random = new Random(run.Scenario.Seed ^ 0x5eed);
            // An acknowledged record with a later one in its partition, so the final reads pass above it.
            var candidates = new List<(int Partition, long Offset, ModelRecord Record)>();
            for (int p = 0; p < model.Logs.Length; p++)
            {
                for (int o = 0; o + 1 < model.Logs[p].Count; o++)
                {
                    if (model.Logs[p][o].Acknowledged) candidates.Add((p, o, model.Logs[p][o]));
                }
            }
            if (candidates.Count == 0) return;
            exercised++;
            var (part, offset, record) = candidates[random.Next(candidates.Count)];
            var partition = model.Partitions[part];
            var mutated = model.Rewrite(op => op.Value.Select(m => m is PollOp poll
                ? new PollOp(poll.Partitions.Select(pp => pp.Partition == partition
                    ? new PolledPartition(pp.Partition, pp.Records.Where(r => r.Offset != offset).ToList())
                    : pp).ToList())
                : m).ToList());

            var result = HistoryChecker.Check(mutated, run.Options);
            Assert.False(result.IsValid);
            var lost = Assert.Single(result.Named(AnomalyNames.LostWrite));
            Assert.True(lost.Forbidden);
            Assert.Equal(partition, lost.Partition);
            Assert.Equal(record.Writer, lost.Operations[0]);
            Assert.Contains(record.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), lost.Explanation);
        }).QuickCheckThrowOnFailure();
        Assert.True(exercised * 2 > runs, $"only {exercised} of {runs} runs had a record to drop");
    }

    [Fact]
    public void Swapping_the_values_of_two_read_offsets_is_inconsistent_offsets()
    {
        int exercised = 0, runs = 0;
        Prop.ForAll(Arb.From(Runs), run =>
        {
            runs++;
            var model = CorrectHistory.Build(run.Scenario);
            var random = new Random(run.Scenario.Seed ^ 0x5a9);
            bool Acked(TopicPartition p, long offset) => model.Logs[p.Partition][(int)offset].Acknowledged;
            // A poll that read two acknowledged records of one partition.
            var candidates = new List<(int Op, TopicPartition Partition, int I, int J)>();
            foreach (var op in model.History.Operations)
            {
                if (op.Type != OpType.Ok || op.Kind != OpKind.Poll) continue;
                foreach (var pp in ((PollOp)op.Value[0]).Partitions)
                {
                    var acked = Enumerable.Range(0, pp.Records.Count).Where(i => Acked(pp.Partition, pp.Records[i].Offset)).ToList();
                    if (acked.Count >= 2) candidates.Add((op.Index, pp.Partition, acked[0], acked[^1]));
                }
            }
            if (candidates.Count == 0) return;
            exercised++;
            var (target, partition, i, j) = candidates[random.Next(candidates.Count)];
            var mutated = model.Rewrite(op => op.Index != target ? op.Value :
            [
                new PollOp(((PollOp)op.Value[0]).Partitions.Select(pp =>
                {
                    if (pp.Partition != partition) return pp;
                    var records = pp.Records.ToArray();
                    (records[i], records[j]) = (records[i] with { Value = records[j].Value }, records[j] with { Value = records[i].Value });
                    return new PolledPartition(pp.Partition, records);
                }).ToList()),
            ]);

            var result = HistoryChecker.Check(mutated, run.Options);
            Assert.False(result.IsValid);
            var inconsistent = result.Named(AnomalyNames.InconsistentOffsets).ToList();
            Assert.Equal(2, inconsistent.Count);
            Assert.All(inconsistent, a =>
            {
                Assert.True(a.Forbidden);
                Assert.Equal(partition, a.Partition);
                Assert.Contains(target, a.Operations);
            });
        }).QuickCheckThrowOnFailure();
        Assert.True(exercised * 2 > runs, $"only {exercised} of {runs} runs had two records to swap");
    }

    [Fact]
    public void A_value_written_twice_is_a_duplicate_forbidden_with_idempotence_only()
    {
        int exercised = 0, runs = 0;
        Prop.ForAll(Arb.From(Runs), run =>
        {
            runs++;
            var model = CorrectHistory.Build(run.Scenario, duplicateAtEnd: true);
            if (model.Duplicated is not var (partition, value)) return;
            exercised++;
            var idempotent = HistoryChecker.Check(model.History, run.Options with { Idempotence = true });
            Assert.False(idempotent.IsValid);
            var duplicate = Assert.Single(idempotent.Named(AnomalyNames.Duplicate));
            Assert.True(duplicate.Forbidden);
            Assert.Equal(partition, duplicate.Partition);
            Assert.StartsWith(value.ToString(System.Globalization.CultureInfo.InvariantCulture) + " appears", duplicate.Explanation);
            Assert.Equal(1, idempotent.ForbiddenCounts.Values.Sum());

            var plain = HistoryChecker.Check(model.History, run.Options with { Idempotence = false });
            Assert.True(plain.IsValid, plain.Summary());
            Assert.Equal(1, plain.Count(AnomalyNames.Duplicate));
        }).QuickCheckThrowOnFailure();
        Assert.True(exercised * 2 > runs, $"only {exercised} of {runs} runs had a value to duplicate");
    }

    [Fact]
    public void A_large_correct_history_passes()
    {
        // Size, not speed: how fast the checker is belongs to bench/, not to a timed test.
        var model = CorrectHistory.Build(new Scenario(7, 4, 8, 6, 200_000));
        Assert.True(model.History.Operations.Count >= 190_000, $"{model.History.Operations.Count} operations");
        var result = HistoryChecker.Check(model.History, new CheckerOptions { Idempotence = true, FinalReadsComplete = true });
        output.WriteLine($"{model.History.Operations.Count} operations checked");
        Assert.True(result.IsValid, result.Summary());
    }
}
