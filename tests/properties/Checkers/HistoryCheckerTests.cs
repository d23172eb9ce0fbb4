using DetKafka.Sim.Checkers;
using DetKafka.Sim.History;
using Xunit;
using static DetKafka.Properties.Checkers.HistoryBuilder;

namespace DetKafka.Properties.Checkers;

public class HistoryCheckerTests
{
    private static readonly CheckerOptions Strict = new() { FinalReadsComplete = true };
    private static readonly CheckerOptions Idempotent = new() { Idempotence = true };
    private static readonly CheckerOptions ReadCommitted = new()
    {
        Idempotence = true, Transactions = true, Isolation = IsolationLevel.ReadCommitted,
    };

    private static Anomaly Single(CheckResult result, string name, bool forbidden, params int[] ops)
    {
        var found = result.Named(name).ToList();
        Assert.True(found.Count == 1, $"expected one {name}, got {found.Count}:\n{result.Summary()}");
        var anomaly = found[0];
        Assert.Equal(forbidden, anomaly.Forbidden);
        Assert.Equal(ops.OrderBy(o => o), anomaly.Operations.OrderBy(o => o));
        Assert.Equal(1, result.Count(name));
        Assert.Equal(forbidden ? 1 : 0, result.ForbiddenCount(name));
        return anomaly;
    }

    private static void Valid(CheckResult result) => Assert.True(result.IsValid, result.Summary());

    private static void Invalid(CheckResult result) => Assert.False(result.IsValid, result.Summary());

    private static void None(CheckResult result, string name) => Assert.True(result.Count(name) == 0, result.Summary());

    [Fact]
    public void A_clean_history_has_no_anomaly_at_all()
    {
        var h = new HistoryBuilder();
        h.SendOk(1, (P0, 10, 0), (P1, 11, 0));
        h.SendOk(2, (P0, 12, 1));
        h.Poll(20, (P0, 0, 10));
        h.SendOk(1, (P0, 13, 2), (P1, 14, 1));
        h.Poll(20, (P0, 1, 12), (P0, 2, 13), (P1, 0, 11));
        h.Poll(20, (P1, 1, 14));
        var result = h.Check(Strict with { Idempotence = true });
        Valid(result);
        Assert.Empty(result.Counts);
        Assert.Empty(result.Anomalies);
    }

    [Fact]
    public void Lost_write_is_an_acknowledged_send_below_the_highest_read_offset_never_read()
    {
        var h = new HistoryBuilder();
        int lost = h.SendOk(1, (P0, 1, 0));
        h.SendOk(1, (P0, 2, 1));
        int reader = h.Poll(20, (P0, 1, 2));
        var result = h.Check();
        Invalid(result);
        var anomaly = Single(result, AnomalyNames.LostWrite, true, lost, reader);
        Assert.Equal(P0, anomaly.Partition);
        Assert.Contains("offset 0", anomaly.Explanation);
        // Without the liveness phase unseen is information only.
        Single(result, AnomalyNames.Unseen, false, lost);

        // acks=0, or acks=1 that is not durable, may lose it.
        Valid(h.Check(new CheckerOptions { Acks = ProducerAcks.None }));
        Valid(h.Check(new CheckerOptions { Acks = ProducerAcks.Leader, LeaderAckIsDurable = false }));
        // acks=1 synced before the answer is as strong as acks=all.
        Invalid(h.Check(new CheckerOptions { Acks = ProducerAcks.Leader }));
    }

    [Fact]
    public void Unseen_is_an_acknowledged_send_nobody_read_and_fails_only_after_final_reads()
    {
        var h = new HistoryBuilder();
        h.SendOk(1, (P0, 1, 0));
        int tail = h.SendOk(1, (P0, 2, 1));
        h.Poll(20, (P0, 0, 1));
        var result = h.Check(Strict);
        Invalid(result);
        Single(result, AnomalyNames.Unseen, true, tail);
        None(result, AnomalyNames.LostWrite); // above the highest offset read: possibly just not visible yet

        var relaxed = h.Check(Strict with { FinalReadsComplete = false });
        Valid(relaxed);
        Single(relaxed, AnomalyNames.Unseen, false, tail);
    }

    [Fact]
    public void Info_sends_are_never_lost_unseen_or_G1a()
    {
        var h = new HistoryBuilder();
        h.SendInfo(1, (P0, 1));
        h.SendOk(1, (P0, 2, 1));
        h.Poll(20, (P0, 1, 2));
        // An operation still open at the end is Info too, and its value may be read.
        h.Invoke(3, OpKind.Send, [new SendOp(P0, 3, null)]);
        h.Poll(20, (P0, 2, 3));
        Valid(h.Check(Strict));
        Assert.Empty(h.Check(Strict).Counts);
    }

    [Fact]
    public void At_least_once_duplicate_after_an_info_send_is_legal_without_idempotence_only()
    {
        var h = new HistoryBuilder();
        int send = h.SendInfo(1, (P0, 7));
        int reader = h.Poll(20, (P0, 0, 7), (P0, 1, 7));
        var plain = h.Check(Strict);
        Valid(plain);
        Single(plain, AnomalyNames.Duplicate, false, reader);

        var idempotent = h.Check(Strict with { Idempotence = true });
        Invalid(idempotent);
        var anomaly = Single(idempotent, AnomalyNames.Duplicate, true, reader);
        Assert.Contains("offsets 0, 1", anomaly.Explanation);
        Assert.True(send < reader);
    }

    [Fact]
    public void A_value_the_workload_itself_sent_twice_may_land_twice_even_with_idempotence()
    {
        var h = new HistoryBuilder();
        h.SendInfo(1, (P0, 7));
        int resend = h.SendOk(1, (P0, 7, 1));
        int reader = h.Poll(20, (P0, 0, 7), (P0, 1, 7));
        var result = h.Check(Strict with { Idempotence = true });
        Valid(result);
        Single(result, AnomalyNames.Duplicate, false, reader, resend);
    }

    [Fact]
    public void Inconsistent_offsets_is_one_offset_with_two_values()
    {
        var h = new HistoryBuilder();
        int acked = h.SendOk(1, (P0, 1, 0));
        h.SendInfo(2, (P0, 2));
        int reader = h.Poll(20, (P0, 0, 2));
        var result = h.Check();
        Invalid(result);
        var anomaly = Single(result, AnomalyNames.InconsistentOffsets, true, acked, reader);
        Assert.Contains("offset 0", anomaly.Explanation);

        // Where acknowledged writes may be lost, the offset of a lost write may be reused...
        var lossy = h.Check(new CheckerOptions { Acks = ProducerAcks.None });
        Valid(lossy);
        Single(lossy, AnomalyNames.InconsistentOffsets, false, acked, reader);

        // ...but two consumers must never disagree.
        int other = h.Poll(21, (P0, 0, 1));
        var disagree = h.Check(new CheckerOptions { Acks = ProducerAcks.None });
        Invalid(disagree);
        Single(disagree, AnomalyNames.InconsistentOffsets, true, acked, reader);
        Assert.True(other > reader);
    }

    [Fact]
    public void Nonmonotonic_send_is_a_later_send_of_one_process_landing_lower()
    {
        var h = new HistoryBuilder();
        int first = h.SendOk(1, (P0, 1, 5));
        int second = h.SendOk(1, (P0, 2, 3));
        h.Poll(20, (P0, 3, 2), (P0, 5, 1));
        var result = h.Check(Strict);
        Invalid(result);
        Single(result, AnomalyNames.NonmonotonicSend, true, first, second);
        Assert.Single(result.Counts); // nothing else: offsets 3 and 5 are dense neighbours
    }

    [Fact]
    public void Nonmonotonic_send_after_an_unacknowledged_send_is_legal_without_idempotence()
    {
        var h = new HistoryBuilder();
        int first = h.SendInfo(1, (P0, 1));
        int second = h.SendOk(1, (P0, 2, 3));
        h.Poll(20, (P0, 3, 2), (P0, 5, 1)); // the Info send was retried and landed later
        var plain = h.Check(Strict);
        Valid(plain);
        Single(plain, AnomalyNames.NonmonotonicSend, false, first, second);
        Single(h.Check(Strict with { Idempotence = true }), AnomalyNames.NonmonotonicSend, true, first, second);
    }

    private static HistoryBuilder FiveRecords()
    {
        var h = new HistoryBuilder();
        for (int i = 0; i < 5; i++) h.SendOk(1, (P0, 10 + i, i));
        h.Poll(30, (P0, 0, 10), (P0, 1, 11), (P0, 2, 12), (P0, 3, 13), (P0, 4, 14)); // a second consumer reads all
        return h;
    }

    [Fact]
    public void Poll_skip_is_a_consumer_skipping_records_between_two_polls()
    {
        var h = FiveRecords();
        int a = h.Poll(20, (P0, 0, 10), (P0, 1, 11));
        int b = h.Poll(20, (P0, 3, 13), (P0, 4, 14));
        var result = h.Check(Strict);
        Invalid(result);
        var anomaly = Single(result, AnomalyNames.PollSkip, true, a, b);
        Assert.Contains("12@2", anomaly.Explanation);
        Assert.Single(result.Counts);

        // A subscribed consumer may be rebalanced between polls.
        var subscribed = h.Check(Strict with { Consumers = ConsumerMode.Subscribe });
        Valid(subscribed);
        Single(subscribed, AnomalyNames.PollSkip, false, a, b);
    }

    [Fact]
    public void Poll_skip_across_an_assign_is_not_judged()
    {
        var h = FiveRecords();
        h.Poll(20, (P0, 0, 10), (P0, 1, 11));
        h.Assign(20);
        h.Poll(20, (P0, 3, 13), (P0, 4, 14));
        h.Assign(20);
        h.Poll(20, (P0, 0, 10));
        var result = h.Check(Strict);
        Valid(result);
        Assert.Empty(result.Counts);
    }

    [Fact]
    public void Nonmonotonic_poll_is_a_consumer_going_back_between_two_polls()
    {
        var h = FiveRecords();
        int a = h.Poll(20, (P0, 0, 10), (P0, 1, 11), (P0, 2, 12));
        int b = h.Poll(20, (P0, 1, 11), (P0, 2, 12));
        var result = h.Check(Strict);
        Invalid(result);
        Single(result, AnomalyNames.NonmonotonicPoll, true, a, b);
        Assert.Single(result.Counts);
        Valid(h.Check(Strict with { Consumers = ConsumerMode.Subscribe }));
    }

    [Fact]
    public void Failed_and_info_polls_do_not_move_the_consumer()
    {
        var h = FiveRecords();
        int a = h.Poll(20, (P0, 0, 10));
        h.PollWithType(20, OpType.Info, (P0, 1, 11));
        int c = h.Poll(20, (P0, 1, 11));
        Valid(h.Check(Strict));
        h.Poll(20, (P0, 3, 13));
        Assert.True(a < c);
        Single(h.Check(Strict), AnomalyNames.PollSkip, true, c, c + 2);
    }

    [Fact]
    public void Int_send_skip_is_another_write_between_two_sends_of_one_operation_and_is_allowed()
    {
        var h = new HistoryBuilder();
        int op = h.SendOk(1, (P0, 1, 0), (P0, 2, 2));
        h.SendOk(2, (P0, 3, 1));
        h.Poll(20, (P0, 0, 1), (P0, 1, 3), (P0, 2, 2));
        var result = h.Check(Strict with { Idempotence = true });
        Valid(result);
        Single(result, AnomalyNames.IntSendSkip, false, op);
    }

    [Fact]
    public void Int_nonmonotonic_send_is_an_operation_whose_sends_land_backwards()
    {
        var h = new HistoryBuilder();
        int op = h.SendOk(1, (P0, 1, 1), (P0, 2, 0));
        h.Poll(20, (P0, 0, 2), (P0, 1, 1));
        var plain = h.Check(Strict);
        Valid(plain); // retries of a non-idempotent producer may reorder batches
        Single(plain, AnomalyNames.IntNonmonotonicSend, false, op);
        var idempotent = h.Check(Strict with { Idempotence = true });
        Invalid(idempotent);
        Single(idempotent, AnomalyNames.IntNonmonotonicSend, true, op);
    }

    [Fact]
    public void Int_poll_skip_is_one_poll_skipping_a_known_record()
    {
        var h = FiveRecords();
        int op = h.Poll(20, (P0, 0, 10), (P0, 2, 12));
        var result = h.Check(Strict);
        Invalid(result);
        Single(result, AnomalyNames.IntPollSkip, true, op);
        Assert.Single(result.Counts);
        // Subscribing does not excuse a gap inside one poll call.
        Invalid(h.Check(Strict with { Consumers = ConsumerMode.Subscribe }));
    }

    [Fact]
    public void Int_nonmonotonic_poll_is_one_poll_going_backwards()
    {
        var h = FiveRecords();
        int op = h.Poll(20, (P0, 1, 11), (P0, 0, 10));
        var result = h.Check(Strict);
        Invalid(result);
        Single(result, AnomalyNames.IntNonmonotonicPoll, true, op);
        Assert.Single(result.Counts);
    }

    [Fact]
    public void Int_poll_anomalies_between_the_polls_of_one_transaction_are_allowed_when_subscribed()
    {
        var h = FiveRecords();
        int op = h.Txn(20, OpType.Ok, PollOf((P0, 0, 10)), PollOf((P0, 3, 13)));
        var options = ReadCommitted with { FinalReadsComplete = true };
        Single(h.Check(options), AnomalyNames.IntPollSkip, true, op);
        var subscribed = h.Check(options with { Consumers = ConsumerMode.Subscribe });
        Valid(subscribed);
        Single(subscribed, AnomalyNames.IntPollSkip, false, op);
    }

    [Fact]
    public void G1a_is_reading_a_definitely_failed_send()
    {
        var h = new HistoryBuilder();
        int failed = h.SendFail(1, (P0, 1));
        int reader = h.Poll(20, (P0, 0, 1));
        var result = h.Check(new CheckerOptions { Acks = ProducerAcks.None });
        Invalid(result);
        Single(result, AnomalyNames.G1a, true, failed, reader);
        None(result, AnomalyNames.InventedValue);
    }

    [Fact]
    public void G1a_on_an_aborted_transaction_fails_read_committed_only()
    {
        var h = new HistoryBuilder();
        int aborted = h.Txn(1, OpType.Fail, new SendOp(P0, 1, null));
        int reader = h.Poll(20, (P0, 0, 1));
        var committed = h.Check(ReadCommitted);
        Invalid(committed);
        Single(committed, AnomalyNames.G1a, true, aborted, reader);
        var uncommitted = h.Check(ReadCommitted with { Isolation = IsolationLevel.ReadUncommitted });
        Valid(uncommitted);
        Single(uncommitted, AnomalyNames.G1a, false, aborted, reader);
    }

    [Fact]
    public void Precommitted_read_is_a_transaction_reading_its_own_send()
    {
        var h = new HistoryBuilder();
        int txn = h.Txn(1, OpType.Ok, new SendOp(P0, 1, 0), PollOf((P0, 0, 1)));
        var committed = h.Check(ReadCommitted);
        Invalid(committed);
        Single(committed, AnomalyNames.PrecommittedRead, true, txn);
        Valid(h.Check(ReadCommitted with { Isolation = IsolationLevel.ReadUncommitted }));
    }

    [Fact]
    public void G0_is_a_write_cycle_and_only_informational()
    {
        var h = new HistoryBuilder();
        int a = h.SendOk(1, (P0, 1, 0), (P1, 2, 1));
        int b = h.SendOk(2, (P0, 3, 1), (P1, 4, 0));
        h.Poll(20, (P0, 0, 1), (P0, 1, 3), (P1, 0, 4), (P1, 1, 2));
        var result = h.Check(ReadCommitted with { FinalReadsComplete = true });
        Valid(result);
        var anomaly = Single(result, AnomalyNames.G0, false, a, b);
        Assert.Null(anomaly.Partition);
        Assert.Contains("-ww->", anomaly.Explanation);
    }

    [Fact]
    public void G1c_of_reads_alone_fails_read_committed()
    {
        var h = new HistoryBuilder();
        int t1 = h.Txn(1, OpType.Ok, new SendOp(P0, 1, 0), PollOf((P1, 0, 2)));
        int t2 = h.Txn(2, OpType.Ok, new SendOp(P1, 2, 0), PollOf((P0, 0, 1)));
        var committed = h.Check(ReadCommitted);
        Invalid(committed);
        var anomaly = Single(committed, AnomalyNames.G1c, true, t1, t2);
        Assert.Contains("-wr->", anomaly.Explanation);
        Assert.DoesNotContain("-ww->", anomaly.Explanation);
        Valid(h.Check(ReadCommitted with { Isolation = IsolationLevel.ReadUncommitted }));
    }

    [Fact]
    public void G1c_mixing_write_order_and_reads_is_allowed_since_writes_are_not_isolated()
    {
        // t0 writes P0 first; t1 writes P0 after it and P1, commits; t0 then reads t1's committed P1 write.
        var h = new HistoryBuilder();
        int t1 = h.Txn(1, OpType.Ok, new SendOp(P0, 2, 1), new SendOp(P1, 3, 0));
        int t0 = h.Txn(2, OpType.Ok, new SendOp(P0, 1, 0), PollOf((P1, 0, 3)));
        h.Poll(20, (P0, 0, 1), (P0, 1, 2), (P1, 0, 3));
        var result = h.Check(ReadCommitted with { FinalReadsComplete = true });
        Valid(result);
        var anomaly = Single(result, AnomalyNames.G1c, false, t0, t1);
        Assert.Contains("-ww->", anomaly.Explanation);
        Assert.Contains("-wr->", anomaly.Explanation);
    }

    [Fact]
    public void Invented_value_is_always_forbidden_and_distinct_from_G1a()
    {
        var h = new HistoryBuilder();
        h.SendOkNoOffset(1, (P1, 5));
        int reader = h.Poll(20, (P0, 0, 999), (P0, 1, 5));
        foreach (var options in new[] { new CheckerOptions(), new CheckerOptions { Acks = ProducerAcks.None } })
        {
            var result = h.Check(options);
            Invalid(result);
            Assert.Equal(2, result.Count(AnomalyNames.InventedValue));
            Assert.All(result.Named(AnomalyNames.InventedValue), a => Assert.Equal([reader], a.Operations));
            Assert.Contains(result.Named(AnomalyNames.InventedValue), a => a.Explanation.Contains("sent to t-1 only"));
            None(result, AnomalyNames.G1a);
        }
    }

    [Fact]
    public void Acks_zero_may_lose_writes_but_is_otherwise_checked()
    {
        var h = new HistoryBuilder();
        int lost = h.SendOkNoOffset(1, (P0, 1));
        h.SendOkNoOffset(1, (P0, 2));
        h.SendOkNoOffset(1, (P0, 3));
        h.Poll(20, (P0, 0, 2), (P0, 1, 3));
        var options = new CheckerOptions { Acks = ProducerAcks.None, FinalReadsComplete = true };
        var result = h.Check(options);
        Valid(result);
        Single(result, AnomalyNames.Unseen, false, lost);
        None(result, AnomalyNames.LostWrite);
        // The same loss under acks=all after final reads is a failure.
        Invalid(h.Check(options with { Acks = ProducerAcks.All }));
    }

    [Fact]
    public void Options_refuse_what_a_Kafka_client_refuses()
    {
        Assert.Throws<ArgumentException>(() => HistoryChecker.Check(new DetKafka.Sim.History.History(),
            new CheckerOptions { Idempotence = true, Acks = ProducerAcks.Leader }));
        Assert.Throws<ArgumentException>(() => HistoryChecker.Check(new DetKafka.Sim.History.History(),
            new CheckerOptions { Transactions = true }));
        Assert.True(HistoryChecker.Check(new DetKafka.Sim.History.History(), new CheckerOptions()).IsValid);
    }

    [Fact]
    public void Forbidden_anomalies_follow_from_the_promises()
    {
        var weakest = new CheckerOptions { Acks = ProducerAcks.None, Consumers = ConsumerMode.Subscribe };
        Assert.Equal(
            new[] { "G1a", "inconsistent-offsets", "int-nonmonotonic-poll", "int-poll-skip", "invented-value", "nonmonotonic-send" },
            weakest.ForbiddenAnomalies);
        var strongest = ReadCommitted with { FinalReadsComplete = true };
        Assert.Equal(
            AnomalyNames.All.Except([AnomalyNames.G0, AnomalyNames.IntSendSkip]).OrderBy(n => n, StringComparer.Ordinal),
            strongest.ForbiddenAnomalies);
    }

    [Fact]
    public void Counts_cover_every_instance_while_details_are_capped()
    {
        var h = new HistoryBuilder();
        for (int i = 0; i < 10; i++) h.SendOk(1, (P0, i, i));
        var result = h.Check(Strict with { MaxReportedPerName = 3 });
        Assert.Equal(10, result.Count(AnomalyNames.Unseen));
        Assert.Equal(10, result.ForbiddenCount(AnomalyNames.Unseen));
        Assert.Equal(3, result.Named(AnomalyNames.Unseen).Count());
        Assert.Contains("unseen: 10 (10 forbidden)", result.Summary());
    }
}
