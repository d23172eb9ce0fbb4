using DetKafka.Sim.Reach;
using Xunit;

namespace DetKafka.Properties.Sim;

/// <summary>
/// Topic metadata at every disk operation of topic changes (<see cref="MetadataCrashPoints"/>): a node started on the
/// crashed disk shows every acknowledged create, partition increase, config change and deletion; a disk whose syncs
/// persist nothing (the planted fault) loses an acknowledged change at some crash point.
/// </summary>
public class MetadataCrashPointTests
{
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void A_crash_at_every_disk_operation_of_topic_changes_keeps_every_acknowledged_change(ulong seed)
    {
        var report = MetadataCrashPoints.Explore(seed);
        Assert.True(report.CrashPoints > 10, $"only {report.CrashPoints} crash points: the scenario does too little");
        Assert.True(report.Problems.Count == 0, string.Join("\n", report.Problems.Take(10)));
    }

    /// <summary>The window between a metadata append and its sync's completion: a node that answers admin requests on
    /// the append (the planted bug) loses an acknowledged change when it crashes there; the real one never answers
    /// before the completion (the theory above), so the crash model sees the window from both sides.</summary>
    [Fact]
    public void Answering_admin_requests_before_the_metadata_sync_completes_loses_an_acknowledged_change_at_some_crash_point()
    {
        var report = MetadataCrashPoints.Explore(1, answerOnAppend: true);
        Assert.Contains(report.Problems, p => p.Contains("came back", StringComparison.Ordinal));
    }

    [Fact]
    public void With_syncs_that_persist_nothing_some_crash_point_loses_an_acknowledged_topic_change()
    {
        var report = MetadataCrashPoints.Explore(1, lyingDisk: true);
        Assert.Contains(report.Problems, p => p.Contains("came back", StringComparison.Ordinal));
    }
}
