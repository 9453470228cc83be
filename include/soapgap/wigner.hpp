// Wigner 3j symbols and Clebsch-Gordan coefficients for integer angular momenta, by Racah's
// formula (Edmonds, Angular Momentum in Quantum Mechanics, eq. 3.7.3) with log-factorials; the
// alternating sum loses ~1e-13 relative for l <= 20, which the tests check against sympy values.
#pragma once

namespace soapgap {

// (j1 j2 j3; m1 m2 m3); 0 when the selection rules fail.
double wigner_3j(int j1, int j2, int j3, int m1, int m2, int m3);
// <j1 m1 j2 m2 | J M> = (-1)^{j1-j2+M} sqrt(2J+1) (j1 j2 J; m1 m2 -M)
double clebsch_gordan(int j1, int m1, int j2, int m2, int J, int M);

}  // namespace soapgap
