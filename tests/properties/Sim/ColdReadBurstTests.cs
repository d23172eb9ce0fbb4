using DetKafka.Sim.Reach;
using Xunit;

namespace DetKafka.Properties.Sim;

/// <summary>
/// A cold read during a burst (<see cref="ColdReadBurst"/>, issue 16): while a consumer reads a topic whose segments
/// went cold, produces to other partitions are acknowledged within a bound far below a cold read's latency, and the
/// consumer gets every record right. With cold segments read on the driver thread (the planted bug), the produces
/// stall behind the reads and the check fails.
/// </summary>
public class ColdReadBurstTests
{
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    [InlineData(4UL)]
    public void Produces_stay_on_time_and_fetches_right_while_a_consumer_reads_cold_segments(ulong seed)
    {
        var report = ColdReadBurst.Run(seed);
        Assert.True(report.Problems.Count == 0, report.ToString());
        Assert.Equal(report.ColdRecordsWritten, report.ColdRecordsFetched);
        Assert.True(report.MaxProduceLatencyMs <= ColdReadBurst.ProduceLatencyBoundMs, report.ToString());
    }

    [Fact]
    public void Reading_cold_segments_on_the_driver_thread_stalls_the_produces_at_seed_1()
    {
        var report = ColdReadBurst.Run(1, plantedSynchronousReads: true);
        Assert.Contains(report.Problems, p => p.Contains("acknowledged after", StringComparison.Ordinal));
        Assert.True(report.MaxProduceLatencyMs >= ColdReadBurst.ColdReadMinMs, report.ToString());
        Assert.True(report.BlockingColdReads > 0, report.ToString());
    }
}
