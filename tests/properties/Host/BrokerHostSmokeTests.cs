using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using DetKafka.Core.Abstractions;
using DetKafka.Host;
using DetKafka.Host.Configuration;
using DetKafka.Host.Runtime;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Xunit;

namespace DetKafka.Properties.Host;

/// <summary>Collects rendered log lines.</summary>
internal sealed class ListSink : ILogEventSink
{
    private static readonly Serilog.Formatting.Display.MessageTemplateTextFormatter Format = new("{Level} {Message:l}");

    public ConcurrentQueue<string> Lines { get; } = new();

    public void Emit(LogEvent logEvent)
    {
        var line = new StringWriter();
        Format.Format(logEvent, line);
        Lines.Enqueue(line.ToString());
    }
}

internal static class KafkaWire
{
    /// <summary>An ApiVersions request frame: v0 header (api key, version, correlation id, client id), empty v0 body.</summary>
    public static byte[] ApiVersionsRequest(int correlationId, short version = 0, string clientId = "smoke")
    {
        var id = System.Text.Encoding.UTF8.GetBytes(clientId);
        var frame = new byte[4 + 2 + 2 + 4 + 2 + id.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, frame.Length - 4);
        BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(4), 18);
        BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(6), version);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(8), correlationId);
        BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(12), (short)id.Length);
        id.CopyTo(frame, 14);
        return frame;
    }

    /// <summary>Read one response frame; null at end of stream.</summary>
    public static byte[]? ReadFrame(Stream stream)
    {
        var size = new byte[4];
        if (!ReadExactly(stream, size)) return null;
        var payload = new byte[BinaryPrimitives.ReadInt32BigEndian(size)];
        return ReadExactly(stream, payload) ? payload : throw new EndOfStreamException("truncated frame");
    }

    private static bool ReadExactly(Stream stream, byte[] buffer)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = stream.Read(buffer, read, buffer.Length - read);
            if (n == 0) return read == 0 ? false : throw new EndOfStreamException("truncated frame");
            read += n;
        }
        return true;
    }

    /// <summary>(correlation id, error code, api keys) of an ApiVersions v0 response.</summary>
    public static (int CorrelationId, short ErrorCode, List<(short Key, short Min, short Max)> Keys) ParseApiVersionsV0(byte[] payload)
    {
        int correlationId = BinaryPrimitives.ReadInt32BigEndian(payload);
        short error = BinaryPrimitives.ReadInt16BigEndian(payload.AsSpan(4));
        int count = BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(6));
        var keys = new List<(short, short, short)>();
        for (int i = 0; i < count; i++)
        {
            var at = payload.AsSpan(10 + i * 6);
            keys.Add((BinaryPrimitives.ReadInt16BigEndian(at), BinaryPrimitives.ReadInt16BigEndian(at[2..]), BinaryPrimitives.ReadInt16BigEndian(at[4..])));
        }
        return (correlationId, error, keys);
    }
}

public sealed class BrokerHostSmokeTests : IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "detkafka-host-" + Path.GetRandomFileName());
    private readonly ListSink _sink = new();
    private readonly Logger _logger;

    public BrokerHostSmokeTests()
    {
        _logger = new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(_sink).CreateLogger();
    }

    public void Dispose()
    {
        _logger.Dispose();
        if (Directory.Exists(_dataDir)) Directory.Delete(_dataDir, recursive: true);
    }

    /// <param name="io">io.model: "loop" (the event loop, the default on Linux) or "threads".</param>
    private BrokerHost StartHost(string io, SocketNetworkLimits? limits = null)
    {
        var settings = ServerOptions.Resolve(
            new ServeArguments { Listeners = "PLAINTEXT://127.0.0.1:0", MetricsListener = "off", DataDir = _dataDir },
            new Dictionary<string, string> { ["DETKAFKA_IO_MODEL"] = io }, null);
        Assert.Equal(io, settings.IoModel);
        return BrokerHost.Start(settings, _logger, TimeSpan.FromSeconds(2), limits ?? new SocketNetworkLimits());
    }

    private static TcpClient Connect(BrokerHost host)
    {
        var client = new TcpClient { NoDelay = true, ReceiveTimeout = 10_000, SendTimeout = 10_000 };
        client.Connect("127.0.0.1", host.Port);
        return client;
    }

    [Theory]
    [InlineData("loop")]
    [InlineData("threads")]
    public void Serves_ApiVersions_v0_on_an_ephemeral_port_and_stops_cleanly(string io)
    {
        var host = StartHost(io);
        Assert.NotEqual(0, host.Port);
        Assert.True(Directory.Exists(_dataDir));
        Assert.Contains(_sink.Lines, l => l.Contains($"DetKafka listening on 127.0.0.1:{host.Port}") && l.Contains(_dataDir));

        using (var client = Connect(host))
        {
            var stream = client.GetStream();
            stream.Write(KafkaWire.ApiVersionsRequest(correlationId: 4242));
            var response = KafkaWire.ReadFrame(stream);
            Assert.NotNull(response);
            var (correlationId, errorCode, keys) = KafkaWire.ParseApiVersionsV0(response);
            Assert.Equal(4242, correlationId);
            Assert.Equal(0, errorCode);
            Assert.Contains(keys, k => k.Key == 18 && k.Min == 0 && k.Max >= 3);
            Assert.Equal(10 + keys.Count * 6, response.Length);
        }

        Assert.True(host.Stop(TimeSpan.FromSeconds(15)));
        Assert.True(host.Completion.IsCompletedSuccessfully);
        Assert.Contains(_sink.Lines, l => l.Contains("DetKafka stopped"));
        // The listener is gone.
        Assert.Throws<SocketException>(() => new TcpClient().Connect("127.0.0.1", host.Port));
    }

    [Theory]
    [InlineData("loop")]
    [InlineData("threads")]
    public void Pipelined_requests_are_answered_in_order_and_a_bad_frame_closes_only_its_connection(string io)
    {
        using var host = StartHost(io);
        using var good = Connect(host);
        using var bad = Connect(host);

        // Three requests in one write, split oddly across two more writes.
        var all = new[] { 1, 2, 3 }.SelectMany(id => KafkaWire.ApiVersionsRequest(id, version: (short)(id - 1))).ToArray();
        var stream = good.GetStream();
        stream.Write(all.AsSpan(0, 7));
        stream.Flush();
        Thread.Sleep(20);
        stream.Write(all.AsSpan(7));
        for (int expected = 1; expected <= 3; expected++)
        {
            var frame = KafkaWire.ReadFrame(stream);
            Assert.NotNull(frame);
            Assert.Equal(expected, BinaryPrimitives.ReadInt32BigEndian(frame));
        }

        // A negative frame size: the broker closes that connection (the client reads end of stream).
        var badStream = bad.GetStream();
        badStream.Write([0xFF, 0xFF, 0xFF, 0xFF]);
        Assert.Null(KafkaWire.ReadFrame(badStream));

        // The other connection is still served.
        stream.Write(KafkaWire.ApiVersionsRequest(99));
        var again = KafkaWire.ReadFrame(stream);
        Assert.Equal(99, BinaryPrimitives.ReadInt32BigEndian(again));

        Assert.True(host.Stop(TimeSpan.FromSeconds(15)));
        // Stopping closes open connections.
        Assert.Null(KafkaWire.ReadFrame(stream));
        Assert.Contains(_sink.Lines, l => l.StartsWith("Warning") && l.Contains("Closing"));
    }

    [Theory]
    [InlineData("loop")]
    [InlineData("threads")]
    public async Task Connections_open_and_close_in_the_node(string io)
    {
        using var host = StartHost(io);
        var clients = Enumerable.Range(0, 4).Select(_ => Connect(host)).ToList();
        // Async clients: blocking ones would starve the thread pool the socket loops run on.
        await Task.WhenAll(clients.Select(async client =>
        {
            var s = client.GetStream();
            var size = new byte[4];
            for (int i = 0; i < 20; i++)
            {
                await s.WriteAsync(KafkaWire.ApiVersionsRequest(i));
                await s.ReadExactlyAsync(size);
                var payload = new byte[BinaryPrimitives.ReadInt32BigEndian(size)];
                await s.ReadExactlyAsync(payload);
                Assert.Equal(i, BinaryPrimitives.ReadInt32BigEndian(payload));
            }
        }));
        Assert.Equal(4, await host.InvokeAsync(node => node.ConnectionCount));
        foreach (var c in clients) c.Dispose();
        // Peer closes reach the node too.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await host.InvokeAsync(node => node.ConnectionCount) > 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(0, await host.InvokeAsync(node => node.ConnectionCount));
        Assert.True(host.Stop(TimeSpan.FromSeconds(15)));
    }

    [Theory]
    [InlineData("loop")]
    [InlineData("threads")]
    public async Task Receive_disabled_by_the_node_pauses_reading_until_enabled(string io)
    {
        using var host = StartHost(io);
        using var client = Connect(host);
        var stream = client.GetStream();
        stream.Write(KafkaWire.ApiVersionsRequest(1));
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(KafkaWire.ReadFrame(stream)));

        var id = new ConnectionId(1); // the host numbers connections from 1
        await host.InvokeAsync(node => { node.Network.SetReceiveEnabled(id, false); return 0; });
        stream.Write(KafkaWire.ApiVersionsRequest(2));
        if (io == "threads")
        {
            // The read already waiting when receive was disabled still delivers: request 2 is answered...
            Assert.Equal(2, BinaryPrimitives.ReadInt32BigEndian(KafkaWire.ReadFrame(stream)));
        }
        // ...but nothing more is read (the event loop stops polling the socket for input at once, so there not
        // even request 2 is).
        stream.Write(KafkaWire.ApiVersionsRequest(3));
        Assert.False(client.Client.Poll(TimeSpan.FromMilliseconds(300), SelectMode.SelectRead));

        await host.InvokeAsync(node => { node.Network.SetReceiveEnabled(id, true); return 0; });
        if (io == "loop") Assert.Equal(2, BinaryPrimitives.ReadInt32BigEndian(KafkaWire.ReadFrame(stream)));
        Assert.Equal(3, BinaryPrimitives.ReadInt32BigEndian(KafkaWire.ReadFrame(stream)));
        Assert.True(host.Stop(TimeSpan.FromSeconds(15)));
    }

    [Theory]
    [InlineData("loop")]
    [InlineData("threads")]
    public async Task A_client_that_stops_reading_is_closed_once_its_send_queue_passes_the_bound(string io)
    {
        using var host = StartHost(io, new SocketNetworkLimits { SendQueueBytesMax = 64 * 1024 });
        using var client = Connect(host);
        client.ReceiveBufferSize = 4096;
        var stream = client.GetStream();
        // Keep sending requests and never read a response: the kernel buffers fill, then the send queue.
        var batch = Enumerable.Range(0, 1000).SelectMany(i => KafkaWire.ApiVersionsRequest(i)).ToArray();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        try
        {
            while (DateTime.UtcNow < deadline && !_sink.Lines.Any(l => l.Contains("not reading its responses")))
                await stream.WriteAsync(batch).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (IOException)
        {
            // the broker reset the connection
        }
        Assert.Contains(_sink.Lines, l => l.StartsWith("Warning") && l.Contains("not reading its responses"));
        var end = DateTime.UtcNow.AddSeconds(10);
        while (await host.InvokeAsync(node => node.ConnectionCount) > 0 && DateTime.UtcNow < end) await Task.Delay(10);
        Assert.Equal(0, await host.InvokeAsync(node => node.ConnectionCount));
        Assert.True(host.Stop(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public void The_detkafka_process_serves_and_exits_0_on_SIGTERM()
    {
        if (OperatingSystem.IsWindows()) return;
        var dll = Path.Combine(AppContext.BaseDirectory, "detkafka.dll");
        Assert.True(File.Exists(dll), dll);
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll, "serve", "--listeners", "127.0.0.1:0", "--data-dir", _dataDir },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var output = new ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue("stderr: " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            int port = 0;
            Assert.True(SpinWait.SpinUntil(() =>
            {
                var line = output.FirstOrDefault(l => l.Contains("DetKafka listening on 127.0.0.1:"));
                if (line is null) return process.HasExited;
                var after = line[(line.IndexOf("127.0.0.1:", StringComparison.Ordinal) + 10)..];
                port = int.Parse(new string(after.TakeWhile(char.IsAsciiDigit).ToArray()));
                return true;
            }, TimeSpan.FromSeconds(30)), string.Join('\n', output));
            Assert.True(port > 0, string.Join('\n', output));

            using (var client = new TcpClient { ReceiveTimeout = 10_000 })
            {
                client.Connect("127.0.0.1", port);
                client.GetStream().Write(KafkaWire.ApiVersionsRequest(7));
                var (correlationId, errorCode, _) = KafkaWire.ParseApiVersionsV0(KafkaWire.ReadFrame(client.GetStream())!);
                Assert.Equal(7, correlationId);
                Assert.Equal(0, errorCode);
            }

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])) kill.WaitForExit();
            Assert.True(process.WaitForExit(15_000), string.Join('\n', output));
            process.WaitForExit(); // flush the output events
            Assert.Equal(0, process.ExitCode);
            Assert.Contains(output, l => l.Contains("DetKafka stopped"));
            Assert.DoesNotContain(output, l => l.StartsWith("stderr"));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
