! md_edge.f90: what the potential computes per edge, and its derivatives.
!
! sph:      e3nn's real spherical harmonics Y of the unit edge vector, l = 0..2
!           (the order and signs of o3.spherical_harmonics, component
!           normalization: sum over m of Y_lm^2 = 2l + 1), the y of oeq.
! sph_grad: d/dr of dy . Y(r / |r|) (the chain rule for the forces).
! radial:   per-edge weights R_k(d) = f_env(d) sum_b W_kb B_b(d) and dR/dd:
!           B_b(d) = sqrt(2/rc) sin(b pi d / rc) / d (the Bessel basis of
!           DimeNet, Gasteiger et al. 2020) and the p = 6 polynomial envelope
!           f_env(x) = 1 - 28 x^6 + 48 x^7 - 21 x^8, x = d / rc (DimeNet's, as
!           in NequIP and MACE), which vanishes at rc with its first two
!           derivatives: atoms crossing the cutoff cost no energy jumps.
module md_edge
  use, intrinsic :: iso_fortran_env, only: dp => real64
  implicit none
  private
  public :: y_dim, n_basis, sph, sph_grad, radial

  integer, parameter :: y_dim = 9, n_basis = 8
  real(dp), parameter :: pi = 3.141592653589793238462643_dp

contains

  ! R = f_env W B and dR/dd for one layer's weights wr(:, n_basis), for all
  ! edges at once (dist(e) -> w(:, e), dwdd(:, e)): two matrix products.
  subroutine radial(wr, rc, dist, w, dwdd)
    real(dp), intent(in) :: wr(:, :), rc, dist(:)
    real(dp), intent(out) :: w(:, :), dwdd(:, :)
    real(dp), allocatable :: b(:, :), db(:, :), env(:), denv(:)
    real(dp) :: x, k, c
    integer :: n, e
    allocate(b(n_basis, size(dist)), db(n_basis, size(dist)), env(size(dist)), denv(size(dist)))
    c = sqrt(2 / rc)
    do e = 1, size(dist)
      do n = 1, n_basis
        k = n * pi / rc
        b(n, e) = c * sin(k * dist(e)) / dist(e)
        db(n, e) = c * (k * cos(k * dist(e)) / dist(e) - sin(k * dist(e)) / dist(e)**2)
      end do
      x = dist(e) / rc
      env(e) = 0
      denv(e) = 0
      if (x < 1) then
        env(e) = 1 - 28 * x**6 + 48 * x**7 - 21 * x**8
        denv(e) = (-168 * x**5 + 336 * x**6 - 168 * x**7) / rc
      end if
    end do
    w = matmul(wr, b)
    dwdd = matmul(wr, db)
    do e = 1, size(dist)
      dwdd(:, e) = denv(e) * w(:, e) + env(e) * dwdd(:, e)
      w(:, e) = env(e) * w(:, e)
    end do
  end subroutine radial

  ! e3nn's real spherical harmonics of a unit vector, l = 0..2, component
  ! normalization (sum over m of Y_lm^2 = 2l + 1).
  pure function sph(u) result(y)
    real(dp), intent(in) :: u(3)
    real(dp) :: y(y_dim)
    real(dp), parameter :: s3 = sqrt(3.0_dp), s5 = sqrt(5.0_dp), s15 = sqrt(15.0_dp)
    y(1) = 1
    y(2:4) = s3 * u
    y(5) = s15 * u(1) * u(3)
    y(6) = s15 * u(1) * u(2)
    y(7) = s5 * (u(2)**2 - (u(1)**2 + u(3)**2) / 2)
    y(8) = s15 * u(2) * u(3)
    y(9) = s15 / 2 * (u(3)**2 - u(1)**2)
  end function sph

  ! d/dr of sum_m dy_m Y_m(r / |r|): the gradient of the polynomial in u,
  ! projected off u and divided by |r|.
  pure function sph_grad(u, dist, dy) result(g)
    real(dp), intent(in) :: u(3), dist, dy(y_dim)
    real(dp) :: g(3), gu(3)
    real(dp), parameter :: s3 = sqrt(3.0_dp), s5 = sqrt(5.0_dp), s15 = sqrt(15.0_dp)
    gu = s3 * dy(2:4)
    gu = gu + dy(5) * s15 * [u(3), 0.0_dp, u(1)]
    gu = gu + dy(6) * s15 * [u(2), u(1), 0.0_dp]
    gu = gu + dy(7) * s5 * [-u(1), 2 * u(2), -u(3)]
    gu = gu + dy(8) * s15 * [0.0_dp, u(3), u(2)]
    gu = gu + dy(9) * s15 * [-u(1), 0.0_dp, u(3)]
    g = (gu - u * dot_product(u, gu)) / dist
  end function sph_grad
end module md_edge
