! md_rng.f90: the deterministic numbers of the MD example.
!
! Every random-looking number (model weights, lattice noise, velocities) is
! a hash of (seed, i, j), not a draw from a stream: atom 17 gets the same
! velocity whichever rank owns it and however many ranks there are, which is
! what makes the results independent of the rank count. The hash works on
! 32-bit values held in 64-bit integers, so nothing overflows.
module md_rng
  use, intrinsic :: iso_fortran_env, only: dp => real64, i8 => int64
  implicit none
  private
  public :: uniform, gaussian

  integer(i8), parameter :: mask32 = 4294967295_i8

contains

  ! A 32-bit integer hash (xor-shift-multiply, two rounds).
  pure function mix(a) result(x)
    integer(i8), intent(in) :: a
    integer(i8) :: x
    x = iand(a, mask32)
    x = iand(ieor(ishft(x, -16), x) * 73244475_i8, mask32)
    x = iand(ieor(ishft(x, -16), x) * 73244475_i8, mask32)
    x = ieor(ishft(x, -16), x)
  end function mix

  ! Uniform in (0, 1), a function of (seed, i, j) only.
  pure function uniform(seed, i, j) result(u)
    integer, intent(in) :: seed, i, j
    real(dp) :: u
    integer(i8) :: h
    h = mix(ieor(mix(ieor(mix(int(seed, i8) + 40503_i8), int(i, i8))), int(j, i8) * 2654435_i8))
    u = (real(h, dp) + 0.5_dp) / 4294967296.0_dp
  end function uniform

  ! Standard normal (Box-Muller on two hashed uniforms).
  pure function gaussian(seed, i, j) result(g)
    integer, intent(in) :: seed, i, j
    real(dp) :: g
    real(dp), parameter :: two_pi = 6.283185307179586476925_dp
    g = sqrt(-2 * log(uniform(seed, i, 2 * j))) * cos(two_pi * uniform(seed, i, 2 * j + 1))
  end function gaussian
end module md_rng
