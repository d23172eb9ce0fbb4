using System.Net;
using System.Net.Sockets;
using System.Text;
using Prometheus;

namespace DetKafka.Host.Runtime;

/// <summary>
/// A minimal HTTP/1.1 endpoint serving one registry's Prometheus text at <c>/metrics</c> (and <c>/</c>), one request
/// per connection. Not prometheus-net's MetricServer: that one is built on the managed HttpListener, whose Start()
/// throws when a client connects at the moment it starts on Linux (dotnet/corefx#35191), which a scraper hitting a
/// restarting broker does. The listening socket is bound before <see cref="Start"/> returns; requests are bounded
/// (8 KiB of headers, 5 s to send them) and served one at a time.
/// </summary>
public sealed class MetricsEndpoint : IDisposable
{
    private const int RequestBytesMax = 8 * 1024;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    private readonly Socket _listener;
    private readonly CollectorRegistry _registry;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    private MetricsEndpoint(Socket listener, CollectorRegistry registry)
    {
        _listener = listener;
        _registry = registry;
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Binds and starts serving. Throws <see cref="SocketException"/> when the address cannot be bound.</summary>
    public static MetricsEndpoint Start(string host, int port, CollectorRegistry registry)
    {
        var address = host.Length == 0 || host == "0.0.0.0" ? IPAddress.Any
            : IPAddress.TryParse(host, out var ip) ? ip
            : Dns.GetHostAddresses(host).First(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen(64);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var endpoint = new MetricsEndpoint(socket, registry);
        endpoint._loop = Task.Run(endpoint.AcceptLoop);
        return endpoint;
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stop.IsCancellationRequested) return;
                continue;
            }
            using (client)
            {
                try
                {
                    await Serve(client).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    // The scraper went away or was too slow: its problem, the next one is served.
                }
            }
        }
    }

    private async Task Serve(Socket client)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(RequestTimeout);
        var buffer = new byte[RequestBytesMax];
        int have = 0;
        int headerEnd = -1;
        while (headerEnd < 0)
        {
            if (have == buffer.Length)
            {
                await Reply(client, "431 Request Header Fields Too Large", "text/plain", "request too large\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
                return;
            }
            int n = await client.ReceiveAsync(buffer.AsMemory(have), SocketFlags.None, timeout.Token).ConfigureAwait(false);
            if (n == 0) return;
            have += n;
            headerEnd = buffer.AsSpan(0, have).IndexOf("\r\n\r\n"u8);
        }
        var requestLine = Encoding.ASCII.GetString(buffer, 0, buffer.AsSpan(0, have).IndexOf("\r\n"u8));
        var parts = requestLine.Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            await Reply(client, "400 Bad Request", "text/plain", "bad request\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            return;
        }
        if (parts[0] is not ("GET" or "HEAD"))
        {
            await Reply(client, "405 Method Not Allowed", "text/plain", "GET only\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            return;
        }
        var path = parts[1].Split('?')[0];
        if (path is not ("/metrics" or "/metrics/" or "/"))
        {
            await Reply(client, "404 Not Found", "text/plain", "try /metrics\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            return;
        }
        using var body = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(body, timeout.Token).ConfigureAwait(false);
        await Reply(client, "200 OK", "text/plain; version=0.0.4; charset=utf-8", parts[0] == "HEAD" ? [] : body.ToArray(), timeout.Token,
            contentLength: body.Length).ConfigureAwait(false);
    }

    private static async Task Reply(Socket client, string status, string contentType, byte[] body, CancellationToken cancel, long? contentLength = null)
    {
        var head = Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Type: {contentType}\r\nContent-Length: {contentLength ?? body.Length}\r\nConnection: close\r\n\r\n");
        await client.SendAsync(head, SocketFlags.None, cancel).ConfigureAwait(false);
        if (body.Length > 0) await client.SendAsync(body, SocketFlags.None, cancel).ConfigureAwait(false);
        client.Shutdown(SocketShutdown.Send);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        try
        {
            _loop?.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
            // stopping
        }
        _stop.Dispose();
    }
}
