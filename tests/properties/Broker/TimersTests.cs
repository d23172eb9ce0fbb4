using DetKafka.Core.Broker;
using Xunit;

namespace DetKafka.Properties.Broker;

public class TimersTests
{
    private sealed class Task : ITimerTask
    {
        public long TimerStamp { get; set; }
        public int Runs;
        public void RunTimer() => Runs++;
    }

    [Fact]
    public void Cancelled_timers_do_not_pile_up_until_their_deadline()
    {
        // Every produce schedules a 30 s timeout and cancels it a sync later: under load the queue must stay
        // proportional to what is live, not to the request rate times the timeout.
        var timers = new Timers();
        var tasks = Enumerable.Range(0, 8).Select(_ => new Task()).ToArray();
        for (int i = 0; i < 200_000; i++)
        {
            var t = tasks[i % tasks.Length];
            timers.Schedule(30_000 + i, t);
            if (i % 3 != 0) timers.Cancel(t);
            Assert.True(timers.Count <= Math.Max(1024, 2 * timers.LiveCount) + 1, $"{timers.Count} queued for {timers.LiveCount} live");
        }
        int live = timers.LiveCount;
        Assert.Equal(tasks.Count(t => t.TimerStamp != 0), live);
        timers.RunDue(long.MaxValue);
        Assert.Equal(live, tasks.Sum(t => t.Runs));
        Assert.Equal(0, timers.LiveCount);
        Assert.Equal(long.MaxValue, timers.NextDeadlineMs);
    }

    [Fact]
    public void Compaction_keeps_the_firing_order()
    {
        var timers = new Timers();
        var fired = new List<int>();
        var handles = new List<TimerHandle>();
        for (int i = 0; i < 5000; i++)
        {
            int id = i;
            handles.Add(timers.Schedule(10_000 - (i % 100), () => fired.Add(id)));
        }
        for (int i = 0; i < handles.Count; i++) if (i % 5 != 0) handles[i].Cancel();
        for (int i = 0; i < 3000; i++) timers.Schedule(20_000, () => { }).Cancel(); // forces compactions
        timers.RunDue(long.MaxValue);
        var expected = Enumerable.Range(0, 5000).Where(i => i % 5 == 0).OrderBy(i => 10_000 - (i % 100)).ThenBy(i => i).ToList();
        Assert.Equal(expected, fired);
    }
}
