! md_graph.f90: the neighbour list of a rank as oeq's convolution wants it.
!
! Edges are (receiver i, sender j) with |x_j - x_i| < rc: receivers are the
! rank's owned atoms (z rows), senders any owned or ghost atom (x rows).
! Built receiver by receiver, so the edges come sorted by receiver, which
! the deterministic mode needs; sender_sort gives its sender_perm.
module md_graph
  use, intrinsic :: iso_c_binding, only: c_int32_t
  use, intrinsic :: iso_fortran_env, only: dp => real64
  use md_domain
  implicit none
  private
  public :: neighbours, sender_sort

contains

  ! Edges (receiver = owned atom i, sender = any atom j /= i within rc),
  ! sorted by receiver; rv = x_j - x_i. Cell lists over the local atoms.
  subroutine neighbours(d, rc, rows, cols, rv)
    type(domain_t), intent(in) :: d
    real(dp), intent(in) :: rc
    integer(c_int32_t), allocatable, intent(out) :: rows(:), cols(:)
    real(dp), allocatable, intent(out) :: rv(:, :)
    real(dp) :: lo(3), size_c(3), r(3)
    integer :: nc(3), na, i, j, a, b, q, ne, pass
    integer, allocatable :: head(:, :, :), next(:), cell(:, :)
    na = d%nlocal + d%nghost
    if (d%nlocal == 0) then
      allocate(rows(0), cols(0), rv(3, 0))
      return
    end if
    lo = minval(d%x(:, 1:na), dim=2)
    do a = 1, 3
      nc(a) = max(1, int((maxval(d%x(a, 1:na)) - lo(a)) / rc))
      size_c(a) = max((maxval(d%x(a, 1:na)) - lo(a)) / nc(a), tiny(1.0_dp))
    end do
    allocate(head(nc(1), nc(2), nc(3)), next(na), cell(3, na))
    head = 0
    do j = na, 1, -1
      cell(:, j) = min(nc, 1 + int((d%x(:, j) - lo) / size_c))
      next(j) = head(cell(1, j), cell(2, j), cell(3, j))
      head(cell(1, j), cell(2, j), cell(3, j)) = j
    end do
    ! Count, then fill.
    do pass = 1, 2
      ne = 0
      do i = 1, d%nlocal
        do a = max(1, cell(1, i) - 1), min(nc(1), cell(1, i) + 1)
          do b = max(1, cell(2, i) - 1), min(nc(2), cell(2, i) + 1)
            do q = max(1, cell(3, i) - 1), min(nc(3), cell(3, i) + 1)
              j = head(a, b, q)
              do while (j /= 0)
                r = d%x(:, j) - d%x(:, i)
                if (j /= i .and. dot_product(r, r) < rc * rc) then
                  ne = ne + 1
                  if (pass == 2) then
                    rows(ne) = int(i - 1, c_int32_t)
                    cols(ne) = int(j - 1, c_int32_t)
                    rv(:, ne) = r
                  end if
                end if
                j = next(j)
              end do
            end do
          end do
        end do
      end do
      if (pass == 1) allocate(rows(ne), cols(ne), rv(3, ne))
    end do
  end subroutine neighbours

  ! The permutation (0-based) that sorts the edges by sender, stable.
  subroutine sender_sort(cols, na, perm)
    integer(c_int32_t), intent(in) :: cols(:)
    integer, intent(in) :: na
    integer(c_int32_t), allocatable, intent(out) :: perm(:)
    integer, allocatable :: start(:)
    integer :: e, k
    allocate(start(na + 1), perm(size(cols)))
    start = 0
    do e = 1, size(cols)
      start(cols(e) + 2) = start(cols(e) + 2) + 1
    end do
    do k = 2, na + 1
      start(k) = start(k) + start(k - 1)
    end do
    do e = 1, size(cols)
      start(cols(e) + 1) = start(cols(e) + 1) + 1
      perm(start(cols(e) + 1)) = int(e - 1, c_int32_t)
    end do
  end subroutine sender_sort
end module md_graph
