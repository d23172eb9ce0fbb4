using DetKafka.Core.Abstractions;

namespace DetKafka.Sim.World;

/// <summary>
/// exp and ln from IEEE basic operations only (+, -, *, /), which are correctly rounded on every platform,
/// unlike Math.Exp/Math.Log whose last bit may differ between runtimes: a seed must draw the same latencies
/// everywhere. Accurate to about 1e-12 relative, plenty for drawing delays.
/// </summary>
public static class DetMath
{
    private const double Ln2 = 0.6931471805599453;

    public static double Exp(double x)
    {
        if (x > 700) return double.MaxValue;
        if (x < -700) return 0;
        // x = k ln2 + r, |r| <= ln2/2; exp(r) by its Taylor series.
        double kd = x / Ln2;
        long k = (long)(kd >= 0 ? kd + 0.5 : kd - 0.5);
        double r = x - k * Ln2;
        double term = 1, sum = 1;
        for (int i = 1; i <= 18; i++)
        {
            term = term * r / i;
            sum += term;
        }
        return Scale(sum, k);
    }

    public static double Ln(double x)
    {
        if (x <= 0) throw new ArgumentOutOfRangeException(nameof(x));
        // x = m 2^k with m in [1, 2); ln m = 2 atanh((m-1)/(m+1)).
        long k = 0;
        double m = x;
        while (m >= 2)
        {
            m /= 2;
            k++;
        }
        while (m < 1)
        {
            m *= 2;
            k--;
        }
        double y = (m - 1) / (m + 1), y2 = y * y, term = y, sum = 0;
        for (int i = 1; i <= 61; i += 2)
        {
            sum += term / i;
            term *= y2;
        }
        return 2 * sum + k * Ln2;
    }

    private static double Scale(double v, long k)
    {
        while (k > 0)
        {
            v *= 2;
            k--;
        }
        while (k < 0)
        {
            v /= 2;
            k++;
        }
        return v;
    }

    /// <summary>Approximately standard normal: Irwin-Hall with 12 uniforms, minus 6 (bounded to +-6).</summary>
    public static double Normal(IRandom random)
    {
        double s = 0;
        for (int i = 0; i < 12; i++) s += random.NextDouble();
        return s - 6;
    }

    /// <summary>Exponential with the given mean.</summary>
    public static double Exponential(IRandom random, double mean) => -mean * Ln(1 - random.NextDouble());

    /// <summary>Log-uniform in [min, max].</summary>
    public static double LogUniform(IRandom random, double min, double max) => min * Exp(Ln(max / min) * random.NextDouble());
}
